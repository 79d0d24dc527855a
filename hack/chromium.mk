# Headless Chromium for the audit report test (tests/controlplane/audit/test_report_chromium.py), which
# fails rather than skips without it. Included from the top-level Makefile with `-include hack/chromium.mk`.
# Installs Debian's `chromium` package when no chromium is on PATH (as root, or through sudo).
.PHONY: chromium

CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

chromium: ## Install headless Chromium (Debian package) for the HTML report test, unless present
	@if [ -n "$(CHROMIUM)" ]; then echo "chromium: $(CHROMIUM)"; else \
		echo "chromium: installing Debian's chromium package"; \
		$(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends chromium; \
	fi

test: chromium
