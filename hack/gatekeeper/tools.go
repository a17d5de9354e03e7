//go:build tools

// Package tools pins the Gatekeeper release the API-server benchmark
// (hack/bench, part 4) runs next to canarygate: its validating webhook,
// with one ConstraintTemplate checking the same canary weight rules, is the
// reference for what a general-purpose policy webhook adds to API-server
// writes. Built by build.sh into bin/gatekeeper; nothing is downloaded but
// Go modules. Gatekeeper pins its own Kubernetes libraries (older than
// canarygate's), which is why it has a module of its own.
package tools

import (
	_ "github.com/open-policy-agent/gatekeeper/v3"
)
