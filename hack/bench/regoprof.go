package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/profiler"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/policy"
	"github.com/canarygate/canarygate/test/benchfacts"
)

// regoProfile evaluates the built-in policies on each decision case's input
// with OPA's profiler attached and prints the expressions that cost the
// most, with their evaluation counts: the view that finds rules that do not
// short-circuit on the request kind or re-evaluate comprehensions.
func regoProfile(ctx context.Context, w io.Writer, rounds, top int) error {
	src, err := policy.Builtin(false)
	if err != nil {
		return err
	}
	modules := make([]func(*rego.Rego), 0, len(src.Modules))
	for name, text := range src.Modules {
		modules = append(modules, rego.Module(name, text))
	}
	set := benchfacts.BigSet()
	cases, err := decisionCases()
	if err != nil {
		return err
	}
	now := time.Now()
	for _, c := range cases {
		for _, endpoint := range []string{policy.EndpointGate, policy.EndpointLint} {
			if err := regoProfileCase(ctx, w, src, modules, set, c, endpoint, now, rounds, top); err != nil {
				return err
			}
		}
	}
	return nil
}

// regoProfileCase profiles one case as one validating endpoint asks for
// it (the webhook evaluates only that endpoint's rule areas).
func regoProfileCase(ctx context.Context, w io.Writer, src policy.Source, modules []func(*rego.Rego), set *facts.Set, c decisionCase, endpoint string, now time.Time, rounds, top int) error {
	in, err := inputFor(ctx, set, c, now)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	in.Endpoint = endpoint
	val, err := policy.ToValue(in)
	if err != nil {
		return err
	}
	prof := profiler.New()
	opts := append([]func(*rego.Rego){
		rego.Query(policy.DecisionQuery),
		rego.Store(inmem.NewFromObject(src.Data)),
	}, modules...)
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	for range rounds {
		if _, err := pq.Eval(ctx, rego.EvalParsedInput(val), rego.EvalQueryTracer(prof)); err != nil {
			return err
		}
	}
	elapsed := time.Since(start)
	_, _ = fmt.Fprintf(w, "\n== %s, %s: %d evaluations with the profiler on, %v each\n", c.Name, endpoint, rounds, elapsed/time.Duration(rounds))
	all := prof.ReportTopNResults(0, []string{"total_time_ns"})
	perFile := map[string][2]int64{}
	var evals int64
	for _, s := range all {
		f := "?"
		if s.Location != nil {
			f = s.Location.File
		}
		t := perFile[f]
		t[0] += s.ExprTimeNs
		t[1] += int64(s.NumEval + s.NumRedo)
		perFile[f] = t
		evals += int64(s.NumEval + s.NumRedo)
	}
	_, _ = fmt.Fprintf(w, "expression evaluations and redos per decision: %d\n", evals/int64(rounds))
	for f, t := range perFile {
		_, _ = fmt.Fprintf(w, "  %-28s %10v %6d\n", f, time.Duration(t[0]/int64(rounds)), t[1]/int64(rounds))
	}
	_, _ = fmt.Fprintf(w, "%12s %8s %8s  %s\n", "time/eval", "evals", "redos", "location")
	for _, s := range prof.ReportTopNResults(top, []string{"total_time_ns", "num_eval", "num_redo", "file", "line"}) {
		_, _ = fmt.Fprintf(w, "%12v %8d %8d  %s\n", time.Duration(s.ExprTimeNs/int64(rounds)), s.NumEval/rounds, s.NumRedo/rounds, location(s.Location))
	}
	return nil
}

func location(l *ast.Location) string {
	if l == nil {
		return "?"
	}
	return fmt.Sprintf("%s:%d %s", l.File, l.Row, firstLine(string(l.Text)))
}

func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	if len(s) > 90 {
		return s[:90]
	}
	return s
}
