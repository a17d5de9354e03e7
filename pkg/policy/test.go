package policy

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"
)

// Test runs every `test_` rule of the selected sources (built-in tests
// included when opts.Builtin is set) on the engine canarygate embeds, and
// returns one result per test.
func Test(ctx context.Context, opts Options) ([]*tester.Result, error) {
	e, err := load(ctx, opts, true)
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
	return results, err
}
