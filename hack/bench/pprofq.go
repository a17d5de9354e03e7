package main

import (
	"context"
	"os"
	"runtime/pprof"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/canarygate/canarygate/pkg/policy"
	"github.com/canarygate/canarygate/test/benchfacts"
)

// pprofQuery CPU-profiles one query of the built-in policies on one
// decision case's input into file.
func pprofQuery(ctx context.Context, query string, caseIndex, rounds int, file string) error {
	src, err := policy.Builtin(false)
	if err != nil {
		return err
	}
	cases, err := decisionCases()
	if err != nil {
		return err
	}
	in, err := inputFor(ctx, benchfacts.BigSet(), cases[caseIndex], time.Now())
	if err != nil {
		return err
	}
	val, err := policy.ToValue(in)
	if err != nil {
		return err
	}
	opts := []func(*rego.Rego){rego.Query(query), rego.Store(inmem.NewFromObject(src.Data))}
	for name, text := range src.Modules {
		opts = append(opts, rego.Module(name, text))
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return err
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	for range rounds {
		if _, err := pq.Eval(ctx, rego.EvalParsedInput(val)); err != nil {
			return err
		}
	}
	return nil
}
