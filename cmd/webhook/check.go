package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/canarygate/canarygate/pkg/check"
	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/policy"
)

type checkFlags struct {
	files, state, classes, groups []string
	prune                         bool
	namespace, user, output       string
	policy                        policyFlags
}

func newCheckCommand() *cobra.Command {
	f := &checkFlags{}
	cmd := &cobra.Command{
		Use:   "check -f PATH [-f PATH…] [--state PATH…] [--prune] [flags]",
		Short: "Dry-run manifests through canarygate's mutation and policies, offline",
		Long: `check replays a set of manifests the way the API server would call canarygate's
webhooks: every object is mutated first (canary strategy injection, stamps),
then every mutated object is validated by the gate and lint policies against
the final facts — the state with the whole input applied — so the order of
objects in the input never matters. No cluster is needed.

Inputs (-f, --state) are files, directories (recursive, .yaml/.yml/.json) or
"-" for stdin; multi-document YAML and List objects are read. An input object
that exists in the state is an UPDATE that replaces it (keeping the state's
status, uid and creationTimestamp, and computing the new generation as the API
server would); otherwise it is a CREATE. With --prune, state objects of
governed kinds (Ingress, Service, InferenceService) in the input's namespaces
that are absent from the input are DELETEs.

Exit status: 0 nothing denied (warnings allowed); 1 something denied; 2 the
run itself failed (unreadable or invalid input, bad flags, a policy that does
not load, no objects found).`,
		Example: `  # Dry-run the next release step against what the cluster holds now
  kubectl get inferenceservices,services,ingresses -n default -o yaml > state.yaml
  canarygate check -f release/ --state state.yaml

  # The same in CI, as JUnit for the test report
  canarygate check -f release/ --state state.yaml -o junit > canarygate.xml

  # Cleanup: objects missing from the input are deletions
  canarygate check -f release/ --state state.yaml --prune -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCheck(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.files, "filename", "f", nil, `manifests to check: file, directory or "-" for stdin (repeatable)`)
	fl.StringArrayVar(&f.state, "state", nil, "what the cluster holds now, e.g. 'kubectl get -o yaml' output (repeatable; same forms as -f)")
	fl.BoolVar(&f.prune, "prune", false, "treat governed state objects in the input's namespaces that are absent from the input as deletions")
	fl.StringVarP(&f.namespace, "namespace", "n", "default", "namespace for objects that have none")
	fl.StringArrayVar(&f.classes, "ingress-class", []string{facts.DefaultIngressClass}, "ingress classes canarygate governs (repeatable); the first is assumed for Ingresses that name none")
	fl.StringVar(&f.user, "user", check.DefaultUser, "user the decisions are made for (verifier, override and distinct-verifier rules use it)")
	fl.StringArrayVar(&f.groups, "group", nil, "group of --user (repeatable)")
	f.policy.addSourceFlags(fl)
	fl.StringVarP(&f.output, "output", "o", check.FormatText, "output format: text, json or junit (json and junit print only the document on stdout)")
	return cmd
}

func runCheck(cmd *cobra.Command, f *checkFlags) error {
	fail := func(err error) error { return &exitError{code: 2, err: err} }
	if len(f.files) == 0 {
		return fail(fmt.Errorf("no input: give at least one -f PATH (a file, a directory, or - for stdin)"))
	}
	switch f.output {
	case check.FormatText, check.FormatJSON, check.FormatJUnit:
	default:
		return fail(fmt.Errorf("unknown --output %q; use text, json or junit", f.output))
	}
	ctx := cmd.Context()
	opts, err := f.policy.options(ctx)
	if err != nil {
		return fail(err)
	}
	engine, err := policy.Load(ctx, opts)
	if err != nil {
		return fail(err)
	}
	report, err := check.Run(ctx, check.Options{
		Files: f.files, State: f.state, Stdin: cmd.InOrStdin(), Prune: f.prune,
		Namespace: f.namespace, Classes: facts.NewClasses(f.classes),
		User: f.user, Groups: f.groups, Engine: engine, Now: time.Now,
		Tolerance: time.Minute,
	})
	if err != nil {
		return fail(err)
	}
	out := cmd.OutOrStdout()
	color := false
	if file, ok := out.(*os.File); ok && f.output == check.FormatText {
		color = term.IsTerminal(int(file.Fd())) && os.Getenv("NO_COLOR") == ""
	}
	if err := check.WriteReport(out, report, f.output, color); err != nil {
		return fail(err)
	}
	if report.Denied() {
		return &exitError{code: 1, err: fmt.Errorf("%d object(s) denied", report.Summary.Denied)}
	}
	return nil
}
