//go:build tools

// Package tools pins the developer tools canarygate's Makefile builds into
// bin/ (kept out of the main module so its go.mod stays lean).
package tools

import (
	_ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
)
