package policy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
)

// Test runs every `test_` rule of the selected sources (built-in tests
// included when opts.Builtin is set) on the engine canarygate embeds, and
// returns one result per test. The built-in tests assume the default
// settings: with a source that provides canarygate.config some of them fail
// by design; use TestSources to run only the sources' own tests.
func Test(ctx context.Context, opts Options) ([]*tester.Result, error) {
	return runTests(ctx, opts, modeTestAll)
}

// TestSources runs the `test_` rules of opts.Sources only, on the whole set
// they are served with: the built-ins (per opts.Builtin, without their own
// tests) and every source's rules and data. This is what a source must pass
// to be accepted by the Reloader and by `canarygate policy test`. Results
// are sorted by file and line. It returns an error wrapping ErrLoad when the
// set does not compile.
func TestSources(ctx context.Context, opts Options) ([]*tester.Result, error) {
	return runTests(ctx, opts, modeTestSources)
}

func runTests(ctx context.Context, opts Options, mode loadMode) ([]*tester.Result, error) {
	e, err := load(ctx, opts, mode)
	if err != nil {
		return nil, err
	}
	var results []*tester.Result
	err = storage.Txn(ctx, e.store, storage.TransactionParams{}, func(txn storage.Transaction) error {
		ch, err := tester.NewRunner().
			SetCompiler(e.compiler).
			SetStore(e.store).
			SetModules(e.modules).
			CapturePrintOutput(true).
			RaiseBuiltinErrors(true).
			SetParallel(1).
			RunTests(ctx, txn)
		if err != nil {
			return fmt.Errorf("running policy tests: %w", err)
		}
		for r := range ch {
			results = append(results, r)
		}
		return nil
	})
	sort.SliceStable(results, func(i, j int) bool {
		a, b := results[i].Location, results[j].Location
		if a == nil || b == nil {
			return b != nil
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Row < b.Row
	})
	return results, err
}

// testFailures summarises the failed and erroneous tests of a run, one per
// line with its location, or "" when every test passed.
func testFailures(results []*tester.Result) string {
	var lines []string
	for _, r := range results {
		if r.Skip || (!r.Fail && r.Error == nil) {
			continue
		}
		line := fmt.Sprintf("%s: %s.%s failed", r.Location, r.Package, r.Name)
		if r.Error != nil {
			line = fmt.Sprintf("%s: %s.%s: %v", r.Location, r.Package, r.Name, r.Error)
		}
		lines = append(lines, line)
	}
	return strings.Join(lines, "; ")
}
