// Package policies embeds canarygate's built-in Rego policies, their tests
// and their default data, so the binary carries the exact policies its docs
// describe and `canarygate check` needs no files besides the manifests.
package policies

import "embed"

// FS holds every built-in .rego module (tests included) and .json data file.
//
//go:embed *.rego *.json
var FS embed.FS
