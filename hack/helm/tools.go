//go:build tools

// Package tools pins the helm CLI that the chart tests run (helm lint,
// helm template) and that the e2e suite renders the chart with.
// hack/helm/build.sh builds it into bin/helm (once; it is reused after that).
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
