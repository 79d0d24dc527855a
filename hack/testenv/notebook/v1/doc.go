// Package v1 is Kubeflow's Notebook API, kubeflow.org/v1, as the notebook-controller serves it: a pod
// template (core/v1 PodSpec) plus a status. Only the shape matters here: controller-gen turns it into
// the CRD the local test environment installs (hack/testenv/build-addons.sh), and the schema of the pod
// template comes from the upstream k8s.io/api module, field for field.
//
// It exists because github.com/kubeflow/kubeflow/components/notebook-controller (a nested module) is
// not served by the Go module proxy this project may use; when it is, copy its
// config/crd/bases/kubeflow.org_notebooks.yaml instead and delete this module.
//
// +kubebuilder:object:generate=false
// +groupName=kubeflow.org
package v1
