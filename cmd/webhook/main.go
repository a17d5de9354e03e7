// Command canarygate is the canarygate binary: the offline admission
// dry-run (`check`) and its version; the webhook server (`serve`) joins it.
package main

import (
	"errors"
	"fmt"
	"io"
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
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit status: 0 success,
// 1 something denied, 2 the run itself failed.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
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
	root.AddCommand(newCheckCommand(), newServeCommand(), newPolicyCommand(), newVersionCommand())
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	code := 2
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if code == 2 {
		_, _ = fmt.Fprintf(stderr, "canarygate: %v\n", err)
	}
	return code
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
