package v1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NotebookSpec defines the desired state of Notebook.
type NotebookSpec struct {
	// Template describes the notebooks that will be created.
	Template NotebookTemplateSpec `json:"template,omitempty"`
}

// NotebookTemplateSpec is the pod template of a notebook.
type NotebookTemplateSpec struct {
	Spec corev1.PodSpec `json:"spec,omitempty"`
}

// NotebookStatus defines the observed state of Notebook.
type NotebookStatus struct {
	// Conditions is an array of current conditions.
	Conditions []NotebookCondition `json:"conditions"`
	// ReadyReplicas is the number of Pods created by the StatefulSet controller that have a Ready Condition.
	ReadyReplicas int32 `json:"readyReplicas"`
	// ContainerState is the state of underlying container.
	ContainerState corev1.ContainerState `json:"containerState"`
}

// NotebookCondition is one condition of a notebook.
type NotebookCondition struct {
	// Type is the type of the condition. Possible values are Running|Waiting|Terminated.
	Type string `json:"type"`
	// Status is the status of the condition. Can be True, False, Unknown.
	Status string `json:"status"`
	// Last time we probed the condition.
	// +optional
	LastProbeTime metav1.Time `json:"lastProbeTime,omitempty"`
	// Last time the condition transitioned from one status to another.
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// (brief) reason the container is in the current state.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message regarding why the container is in the current state.
	// +optional
	Message string `json:"message,omitempty"`
}

// Notebook is the Schema for the notebooks API.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=notebooks,scope=Namespaced
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
type Notebook struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NotebookSpec   `json:"spec,omitempty"`
	Status NotebookStatus `json:"status,omitempty"`
}

// NotebookList contains a list of Notebook.
//
// +kubebuilder:object:root=true
type NotebookList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Notebook `json:"items"`
}
