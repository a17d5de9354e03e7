package facts_test

import (
	"context"
	"errors"
	"testing"

	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
)

// countingReader counts InferenceService lookups and can fail them.
type countingReader struct {
	facts.Reader
	calls map[facts.Ref]int
	err   error
}

func (c *countingReader) InferenceService(ctx context.Context, namespace, name string) (*kserve.InferenceService, error) {
	c.calls[facts.Ref{Namespace: namespace, Name: name}]++
	if c.err != nil {
		return nil, c.err
	}
	return c.Reader.InferenceService(ctx, namespace, name)
}

func TestMemoReadsEachInferenceServiceOnce(t *testing.T) {
	ctx := context.Background()
	set := facts.NewSet(facts.NewClasses(nil))
	set.PutInferenceService(inferenceService(stable, 3))
	set.PutService(modelService(mainSvc, stable))
	under := &countingReader{Reader: set, calls: map[facts.Ref]int{}}
	m := facts.NewMemo(under)

	for range 3 {
		got, err := m.InferenceService(ctx, ns, stable)
		if err != nil || got == nil || got.Generation != 3 {
			t.Fatalf("InferenceService(%s) = %v, %v; want generation 3", stable, got, err)
		}
		missing, err := m.InferenceService(ctx, ns, "absent")
		if err != nil || missing != nil {
			t.Fatalf("InferenceService(absent) = %v, %v; want nil, nil", missing, err)
		}
	}
	// An Overlay over the memo (the webhook's after-view) shares its reads.
	after := facts.Overlay{Base: m, Classes: set.Classes(), Put: modelService("other", canaryIS)}
	if _, err := after.InferenceService(ctx, ns, stable); err != nil {
		t.Fatal(err)
	}
	for ref, n := range under.calls {
		if n != 1 {
			t.Errorf("%s read %d times, want once", ref, n)
		}
	}
	if len(under.calls) != 2 {
		t.Errorf("reads %v, want the two names asked for", under.calls)
	}
	// Other lookups pass through.
	svc, err := m.Service(ctx, ns, mainSvc)
	if err != nil || svc == nil {
		t.Fatalf("Service(%s) = %v, %v", mainSvc, svc, err)
	}
}

func TestMemoRemembersFailures(t *testing.T) {
	ctx := context.Background()
	boom := errors.New("deadline exceeded")
	under := &countingReader{Reader: facts.NewSet(facts.NewClasses(nil)), calls: map[facts.Ref]int{}, err: boom}
	m := facts.NewMemo(under)
	for range 2 {
		if _, err := m.InferenceService(ctx, ns, stable); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
	}
	if n := under.calls[facts.Ref{Namespace: ns, Name: stable}]; n != 1 {
		t.Errorf("a failed lookup was retried: %d reads, want 1", n)
	}
}
