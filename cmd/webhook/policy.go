package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/canarygate/canarygate/pkg/policy"
)

// policyFlags select and read policy sources; serve, check and the policy
// subcommands share them so a bundle is read the same way everywhere.
type policyFlags struct {
	sources                []string
	builtin                bool
	key, keyID, scope, alg string
	tokenFile              string
	timeout, pollInterval  time.Duration
	verbose, builtinTests  bool
	output                 string
}

// addSourceFlags registers --policy and --builtin-policies and the flags
// that read and verify sources (addReadFlags).
func (f *policyFlags) addSourceFlags(fl *pflag.FlagSet) {
	fl.StringArrayVar(&f.sources, "policy", nil, "policy source: a directory, a .tar.gz OPA bundle or an http(s):// bundle URL (repeatable)")
	fl.BoolVar(&f.builtin, "builtin-policies", true, "load the built-in policies")
	f.addReadFlags(fl)
}

// addReadFlags registers the flags that say how sources are read: the
// bundle signature verification and the download options.
func (f *policyFlags) addReadFlags(fl *pflag.FlagSet) {
	fl.StringVar(&f.key, "policy-verification-key", "", "PEM public key (or HS* secret file) that policy bundle signatures (.signatures.json) are verified with; when set, unsigned and tampered sources are rejected")
	fl.StringVar(&f.keyID, "policy-verification-key-id", policy.DefaultKeyID, "name of the verification key (as opa run --verification-key-id)")
	fl.StringVar(&f.scope, "policy-verification-scope", "", "scope the bundle signature must carry")
	fl.StringVar(&f.alg, "policy-verification-algorithm", policy.DefaultAlgorithm, "signature algorithm of the verification key")
	fl.StringVar(&f.tokenFile, "policy-bearer-token-file", "", "file holding a bearer token sent with bundle downloads (re-read on every request)")
	fl.DurationVar(&f.timeout, "policy-download-timeout", policy.DefaultTimeout, "time limit of one bundle download")
}

// addReloadFlags registers the flags of the serve-time reload.
func (f *policyFlags) addReloadFlags(fl *pflag.FlagSet) {
	fl.DurationVar(&f.pollInterval, "policy-poll-interval", policy.DefaultPollInterval, "how often bundle URLs are polled (plus up to half again as jitter) and policy files re-checked")
}

// sourceOptions are the read flags as policy.SourceOptions.
func (f *policyFlags) sourceOptions() policy.SourceOptions {
	return policy.SourceOptions{
		VerificationKey: f.key, KeyID: f.keyID, Scope: f.scope, Algorithm: f.alg,
		BearerTokenFile: f.tokenFile, Timeout: f.timeout,
	}
}

// options opens every --policy source once (check reads them once; serve
// uses reloaderOptions instead).
func (f *policyFlags) options(ctx context.Context) (policy.Options, error) {
	return openSources(ctx, f.sources, f.builtin, f.sourceOptions())
}

// reloaderOptions are the flags as policy.ReloaderOptions; the caller adds
// Registerer and Log.
func (f *policyFlags) reloaderOptions() policy.ReloaderOptions {
	return policy.ReloaderOptions{
		Builtin: f.builtin, Sources: f.sources, Source: f.sourceOptions(),
		PollInterval: f.pollInterval,
	}
}

func openSources(ctx context.Context, specs []string, builtin bool, so policy.SourceOptions) (policy.Options, error) {
	opts := policy.Options{Builtin: builtin}
	for _, spec := range specs {
		src, err := policy.Open(ctx, spec, so)
		if err != nil {
			return opts, err
		}
		opts.Sources = append(opts.Sources, src)
	}
	return opts, nil
}

// newPolicyCommand is `canarygate policy`: test and inspect policy sources
// with the engine canarygate embeds.
func newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Test and inspect policy sources (directories, OPA bundles, bundle URLs)",
		Long: `policy works on the policy sources 'serve' and 'check' load with --policy: a
directory of .rego and data files, a directory or .tar.gz OPA bundle with a
.manifest, or an http(s):// bundle URL. It uses the Rego engine canarygate
embeds, so a bundle is tested with the exact engine that enforces it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newPolicyTestCommand(), newPolicyInspectCommand())
	return cmd
}

func newPolicyTestCommand() *cobra.Command {
	f := &policyFlags{}
	cmd := &cobra.Command{
		Use:   "test [SRC…]",
		Short: "Run the Rego tests of policy sources on canarygate's engine, with the built-ins loaded",
		Long: `test loads the given sources together with the built-in policies — the set
'serve' and 'check' would load with the same --policy flags, roots and
signature checks included — and runs the test_ rules of the sources on it.
The sources' tests see the built-ins, every source's rules and the data of
the source that provides canarygate.config, exactly as decisions will.

The built-in tests are not run with sources: they assume the default
settings, which a platform's canarygate.config changes by design. Without
SRC, or with --builtin-tests, the built-in tests run on the built-ins alone
(default settings), checking the binary itself.

Exit status: 0 every test passed; 1 a test failed or raised an error; 2 a
source does not load (it names the source, the file and line, and why).`,
		Example: `  # The tests of a bundle directory, as serve would load it
  canarygate policy test examples/platform-bundle

  # A built bundle, verified with the signer's public key, with print output
  canarygate policy test bundle.tar.gz --policy-verification-key pub.pem -v`,
		RunE: func(cmd *cobra.Command, args []string) error { return runPolicyTest(cmd, f, args) },
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.builtin, "builtin-policies", true, "load the built-in policies next to the sources")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "print the print() output of passing tests too")
	fl.BoolVar(&f.builtinTests, "builtin-tests", false, "also run the built-in tests (on the built-ins alone, with default settings)")
	f.addReadFlags(fl)
	return cmd
}

func runPolicyTest(cmd *cobra.Command, f *policyFlags, args []string) error {
	fail := func(err error) error { return &exitError{code: 2, err: err} }
	ctx := cmd.Context()
	opts, err := openSources(ctx, args, f.builtin, f.sourceOptions())
	if err != nil {
		return fail(err)
	}
	var results []*tester.Result
	if len(args) == 0 || f.builtinTests {
		r, err := policy.Test(ctx, policy.Options{Builtin: true})
		if err != nil {
			return fail(err)
		}
		results = append(results, r...)
	}
	if len(args) > 0 {
		if _, err := policy.Load(ctx, opts); err != nil {
			return fail(err)
		}
		r, err := policy.TestSources(ctx, opts)
		if err != nil {
			return fail(err)
		}
		if len(r) == 0 {
			_, _ = fmt.Fprintf(cmd.ErrOrStderr(), "canarygate: no test_ rules in %s\n", strings.Join(args, ", "))
		}
		results = append(results, r...)
	}
	failed := writeTestResults(cmd.OutOrStdout(), results, f.verbose)
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d test(s) failed", failed, len(results))}
	}
	return nil
}

// writeTestResults prints a PASS, FAIL, ERROR or SKIP line per test and a
// summary, and returns how many failed or raised an error.
func writeTestResults(w io.Writer, results []*tester.Result, verbose bool) int {
	failed, passed, skipped := 0, 0, 0
	for _, r := range results {
		status := "PASS"
		switch {
		case r.Skip:
			status = "SKIP"
			skipped++
		case r.Error != nil:
			status = "ERROR"
			failed++
		case r.Fail:
			status = "FAIL"
			failed++
		default:
			passed++
		}
		_, _ = fmt.Fprintf(w, "%-5s %s.%s (%s, %s)\n", status, r.Package, r.Name, r.Location, r.Duration.Round(time.Microsecond))
		if r.Error != nil {
			_, _ = fmt.Fprintf(w, "      %v\n", r.Error)
		}
		if len(r.Output) > 0 && (verbose || status == "FAIL" || status == "ERROR") {
			for _, line := range strings.Split(strings.TrimRight(string(r.Output), "\n"), "\n") {
				_, _ = fmt.Fprintf(w, "      | %s\n", line)
			}
		}
	}
	_, _ = fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	return failed
}

func newPolicyInspectCommand() *cobra.Command {
	f := &policyFlags{}
	cmd := &cobra.Command{
		Use:   "inspect SRC",
		Short: "Print the roots, packages, codes and data keys a policy source provides",
		Long: `inspect reads one policy source the way 'serve' and 'check' read it (with the
same signature checks) and prints what it provides: its roots (the
.manifest's, or those its content implies), its packages, the decision codes
its items rules emit with their endpoint and the enforcement its own
canarygate.config sets, and the paths of its data.

Exit status: 0 printed; 2 the source does not load.`,
		Example: `  canarygate policy inspect examples/platform-bundle
  canarygate policy inspect https://bundles.example.com/platform.tar.gz -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runPolicyInspect(cmd, f, args[0]) },
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	f.addReadFlags(fl)
	return cmd
}

func runPolicyInspect(cmd *cobra.Command, f *policyFlags, spec string) error {
	fail := func(err error) error { return &exitError{code: 2, err: err} }
	if f.output != "text" && f.output != "json" {
		return fail(fmt.Errorf("unknown --output %q; use text or json", f.output))
	}
	src, err := policy.Open(cmd.Context(), spec, f.sourceOptions())
	if err != nil {
		return fail(err)
	}
	sum, err := policy.Inspect(src)
	if err != nil {
		return fail(err)
	}
	out := cmd.OutOrStdout()
	if f.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(sum); err != nil {
			return fail(err)
		}
		return nil
	}
	if err := writeSummary(out, sum); err != nil {
		return fail(err)
	}
	return nil
}

func writeSummary(w io.Writer, s policy.Summary) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, a ...any) { _, _ = fmt.Fprintf(tw, format, a...) }
	p("source\t%s\n", s.Source)
	p("kind\t%s\n", s.Kind)
	if s.Revision != "" {
		p("revision\t%s\n", s.Revision)
	}
	roots := "roots"
	if s.RootsImplied {
		roots = "roots (implied)"
	}
	if len(s.Roots) == 0 {
		p("%s\t-\n", roots)
	}
	for i, r := range s.Roots {
		if r == "" {
			r = `"" (all of data)`
		}
		if i == 0 {
			p("%s\t%s\n", roots, r)
		} else {
			p("\t%s\n", r)
		}
	}
	p("tests\t%d\n", s.Tests)
	if err := tw.Flush(); err != nil {
		return err
	}

	p("\npackages\trules\ttests\tfiles\n")
	for _, pk := range s.Packages {
		p("%s\t%d\t%d\t%s\n", pk.Package, pk.Rules, pk.Tests, strings.Join(pk.Files, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	p("\ncodes\tendpoint\tenforcement\temitted at\n")
	if len(s.Codes) == 0 {
		p("-\n")
	}
	for _, c := range s.Codes {
		enf := c.Enforcement
		if len(c.Profiles) > 0 {
			var per []string
			for name, e := range c.Profiles {
				per = append(per, name+": "+e)
			}
			sort.Strings(per)
			enf += " (" + strings.Join(per, ", ") + ")"
		}
		p("%s\t%s\t%s\t%s\n", c.Code, c.Endpoint, enf, strings.Join(c.Locations, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	p("\ndata\n")
	if len(s.Data) == 0 {
		p("-\n")
	}
	for _, d := range s.Data {
		p("%s\n", d)
	}
	return tw.Flush()
}
