package validate_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/canarygate/canarygate/pkg/facts"
	"github.com/canarygate/canarygate/pkg/kserve"
	"github.com/canarygate/canarygate/pkg/validate"
)

// barrierReader answers InferenceService lookups only once `want` of them
// are in flight at the same time: sequential reads never get there and
// time out.
type barrierReader struct {
	facts.Reader
	want    int
	mu      sync.Mutex
	started int
	all     chan struct{}
}

func (b *barrierReader) InferenceService(ctx context.Context, ns, name string) (*kserve.InferenceService, error) {
	b.mu.Lock()
	b.started++
	if b.started == b.want {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return b.Reader.InferenceService(ctx, ns, name)
	case <-time.After(5 * time.Second):
		return nil, errors.New("read alone: the targets were not read concurrently")
	}
}

// panicReader panics on every InferenceService lookup.
type panicReader struct{ facts.Reader }

func (panicReader) InferenceService(context.Context, string, string) (*kserve.InferenceService, error) {
	panic("reader panicked")
}

// switchRequest is step 4 of the reference scenario: model-svc switched
// from model-v1 to model-v2, a request that names two targets.
func switchRequest(t *testing.T, fx fuzzFixtures) (validate.Request, facts.Reader) {
	t.Helper()
	old := fx.object(t, "scenario/01-services.yaml#model-svc")
	sw := old.DeepCopy()
	sw.Object["spec"].(map[string]any)["selector"] = map[string]any{"serving.kserve.io/inferenceservice": "model-v2"}
	typed, err := facts.Decode(sw)
	if err != nil {
		t.Fatal(err)
	}
	req := validate.Request{
		UID: "switch", Operation: "UPDATE", Kind: schema.GroupVersionKind{Version: "v1", Kind: "Service"},
		Namespace: "default", Name: "model-svc", Object: sw, OldObject: old, User: "alice",
	}
	return req, facts.Overlay{Base: fx.cluster, Classes: facts.NewClasses(nil), Put: typed}
}

func TestTargetsAreReadConcurrently(t *testing.T) {
	fx := loadFuzzFixtures(t)
	req, after := switchRequest(t, fx)
	br := &barrierReader{Reader: after, want: 2, all: make(chan struct{})}
	in, err := validate.Builder{Classes: facts.NewClasses(nil)}.Build(t.Context(), req, fx.cluster, br, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Errors) != 0 {
		t.Fatalf("errors %v", in.Errors)
	}
	for _, key := range []string{"default/model-v1", "default/model-v2"} {
		if tg, ok := in.Targets[key]; !ok || !tg.Exists {
			t.Errorf("target %s = %+v, %v; want it read and existing", key, tg, ok)
		}
	}
}

func TestTargetReaderPanicReachesTheCaller(t *testing.T) {
	fx := loadFuzzFixtures(t)
	req, after := switchRequest(t, fx)
	defer func() {
		if v := recover(); v != "reader panicked" {
			t.Errorf("recovered %v, want the reader's panic in the calling goroutine", v)
		}
	}()
	_, _ = validate.Builder{Classes: facts.NewClasses(nil)}.Build(t.Context(), req, fx.cluster, panicReader{after}, time.Now())
	t.Error("Build returned; want the reader's panic")
}
