package cluster_test

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/canarygate/canarygate/pkg/facts/cluster"
	"github.com/canarygate/canarygate/pkg/kserve"
)

func isvc(name string, generation int64) *kserve.InferenceService {
	return &kserve.InferenceService{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, Generation: generation}}
}

// readers returns a stale cache (model-v1 at generation 1) and the API
// server's current view (model-v1 at 2, and model-v2 the cache has not
// seen yet).
func readers(t *testing.T) (cache, live client.Reader) {
	t.Helper()
	s := runtime.NewScheme()
	if err := kserve.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	cache = fake.NewClientBuilder().WithScheme(s).WithObjects(isvc("model-v1", 1)).Build()
	live = fake.NewClientBuilder().WithScheme(s).WithObjects(isvc("model-v1", 2), isvc("model-v2", 1)).Build()
	return cache, live
}

func TestInferenceServiceReads(t *testing.T) {
	ctx := context.Background()
	cache, live := readers(t)
	cases := []struct {
		name   string
		reader cluster.Reader
		isvc   string
		want   int64 // generation; 0: not found
	}{
		{"cache only", cluster.Reader{Cache: cache}, "model-v1", 1},
		{"cache only, not yet seen", cluster.Reader{Cache: cache}, "model-v2", 0},
		{"live (the gate)", cluster.Reader{Cache: cache, Live: live}, "model-v1", 2},
		{"live on miss, cached", cluster.Reader{Cache: cache, Live: live, LiveOnMiss: true}, "model-v1", 1},
		{"live on miss, not yet cached", cluster.Reader{Cache: cache, Live: live, LiveOnMiss: true}, "model-v2", 1},
		{"live on miss, absent everywhere", cluster.Reader{Cache: cache, Live: live, LiveOnMiss: true}, "model-v3", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.reader.InferenceService(ctx, "default", c.isvc)
			if err != nil {
				t.Fatal(err)
			}
			var gen int64
			if got != nil {
				gen = got.Generation
			}
			if gen != c.want {
				t.Errorf("generation %d, want %d", gen, c.want)
			}
		})
	}
}
