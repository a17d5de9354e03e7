package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/canarygate/canarygate/pkg/policy"
	"github.com/canarygate/canarygate/test/benchfacts"
)

// regoOptions times the decision query under evaluation options, to see
// which of OPA's knobs matter for the built-in policies.
func regoOptions(ctx context.Context, w io.Writer, rounds int, queries []string) error {
	src, err := policy.Builtin(false)
	if err != nil {
		return err
	}
	set := benchfacts.BigSet()
	cases, err := decisionCases()
	if err != nil {
		return err
	}
	now := time.Now()
	type variant struct {
		name  string
		store func() storage.Store
		pe    bool
		opts  []func(*rego.Rego)
		eval  []rego.EvalOption
		query string
	}
	variants := []variant{
		{name: "default", store: func() storage.Store { return inmem.NewFromObject(src.Data) }},
		{name: "AST store", store: func() storage.Store {
			return inmem.NewFromObjectWithOpts(src.Data, inmem.OptReturnASTValuesOnRead(true))
		}, opts: []func(*rego.Rego){rego.StoreReadAST(true)}},
		{name: "no rule indexing", store: func() storage.Store { return inmem.NewFromObject(src.Data) }, eval: []rego.EvalOption{rego.EvalRuleIndexing(false)}},
		{name: "no set sorting", store: func() storage.Store { return inmem.NewFromObject(src.Data) }, eval: []rego.EvalOption{rego.EvalSortSets(false)}},
		{name: "trivial query", store: func() storage.Store { return inmem.NewFromObject(src.Data) }, query: "data.canarygate.builtin.main.areas"},
	}
	for _, q := range queries {
		variants = append(variants, variant{name: q, store: func() storage.Store { return inmem.NewFromObject(src.Data) }, query: "data.canarygate.builtin." + q})
	}
	for _, c := range cases {
		in, err := inputFor(ctx, set, c, now)
		if err != nil {
			return err
		}
		val, err := policy.ToValue(in)
		if err != nil {
			return err
		}
		for _, v := range variants {
			q := v.query
			if q == "" {
				q = policy.DecisionQuery
			}
			opts := []func(*rego.Rego){rego.Query(q), rego.Store(v.store())}
			for name, text := range src.Modules {
				opts = append(opts, rego.Module(name, text))
			}
			opts = append(opts, v.opts...)
			var pq rego.PreparedEvalQuery
			if v.pe {
				pr, err := rego.New(append(opts, rego.Unknowns([]string{"input"}))...).PartialResult(ctx)
				if err != nil {
					return err
				}
				pq, err = pr.Rego().PrepareForEval(ctx)
				if err != nil {
					return err
				}
			} else {
				pq, err = rego.New(opts...).PrepareForEval(ctx)
				if err != nil {
					return err
				}
			}
			ds := make([]time.Duration, 0, rounds)
			for range rounds {
				start := time.Now()
				if _, err := pq.Eval(ctx, append([]rego.EvalOption{rego.EvalParsedInput(val)}, v.eval...)...); err != nil {
					return err
				}
				ds = append(ds, time.Since(start))
			}
			slices.Sort(ds)
			_, _ = fmt.Fprintf(w, "%-26s %-18s p50 %8v p90 %8v\n", c.Name, v.name, ds[len(ds)/2], ds[len(ds)*9/10])
		}
	}
	_ = ast.NullValue
	return nil
}
