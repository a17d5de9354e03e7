// Command canarygate is the canarygate binary: the offline admission
// dry-run (`check`) and its version; the webhook server (`serve`) joins it.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitError carries an exit status through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	root := &cobra.Command{
		Use:   "canarygate",
		Short: "Admission webhook and policy enforcer for canary releases of KServe models behind ingress-nginx",
		Long: `canarygate makes the manual v1 → v2 canary release of a KServe InferenceService
behind ingress-nginx safe: it injects the nginx canary annotations from labels
on the canary InferenceService, checks weights, header and cookie rules and
structure against Rego policies, and blocks any switch of a route's primary
traffic onto an InferenceService nobody verified.

Use 'canarygate check' in CI to dry-run manifests with the same policies the
webhook enforces.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newCheckCommand(), newVersionCommand())
	if err := root.Execute(); err != nil {
		code := 2
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if code == 2 {
			fmt.Fprintf(os.Stderr, "canarygate: %v\n", err)
		}
		os.Exit(code)
	}
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the canarygate version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "canarygate %s\n", version)
			return err
		},
	}
}
