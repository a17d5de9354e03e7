package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/google/pprof/profile"
)

// cpuShare is the part of a CPU profile spent in one kind of work.
type cpuShare struct {
	What    string
	Seconds float64
}

// cpuCategories sort a profile's samples by what the server was doing: the
// first category with a frame matching one of its patterns anywhere in the
// sample's stack takes the sample. The order matters: garbage collection
// first (assists run inside any allocating code), policy evaluation before
// the input building that calls it, and so on outwards to the transport.
var cpuCategories = []struct {
	what     string
	patterns []string
}{
	{"garbage collection", []string{"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge", "runtime.gcStart", "runtime.markroot"}},
	{"policy evaluation (OPA)", []string{"open-policy-agent/opa/v1/topdown.", "open-policy-agent/opa/v1/rego.", "pkg/policy.(*Engine).Evaluate"}},
	{"input to policy value", []string{"pkg/policy.ToValue"}},
	{"live reads from the API server", []string{"k8s.io/client-go/rest.", "pkg/client.(*typedClient).Get", "pkg/client.(*unstructuredClient).Get"}},
	{"mutation and its patch", []string{"pkg/webhook.(*handler).mutate", "pkg/mutate."}},
	{"gathering facts (cache, input)", []string{"pkg/validate.Builder.Build", "pkg/validate.(*gatherer)", "pkg/webhook.overlay"}},
	{"decoding and encoding JSON", []string{"encoding/json.", "sigs.k8s.io/json", "runtime/serializer", "pkg/webhook.decode", "unstructured."}},
	{"logging and metrics", []string{"go.uber.org/zap", "go-logr/", "prometheus/client_golang"}},
	{"TLS, HTTP and the network", []string{"crypto/", "net/http.", "net.(*conn)", "internal/poll.", "syscall."}},
	{"informers (watch and cache)", []string{"k8s.io/client-go/tools/cache.", "k8s.io/client-go/informers", "controller-runtime/pkg/cache"}},
}

// cpuShares reads a CPU profile and returns the time per category (plus
// "other"), in the order of cpuCategories, and the profile's total.
func cpuShares(file string) ([]cpuShare, float64, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, 0, err
	}
	defer func() { _ = f.Close() }()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", file, err)
	}
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, 0, fmt.Errorf("%s: not a CPU profile", file)
	}
	out := make([]cpuShare, len(cpuCategories)+1)
	for i, c := range cpuCategories {
		out[i].What = c.what
	}
	out[len(cpuCategories)].What = "other"
	var total float64
	for _, s := range p.Sample {
		secs := float64(s.Value[idx]) / 1e9
		total += secs
		out[category(s)].Seconds += secs
	}
	return out, total, nil
}

// category returns the index of the first category a sample's stack
// matches, or the index of "other".
func category(s *profile.Sample) int {
	for i, c := range cpuCategories {
		for _, loc := range s.Location {
			for _, line := range loc.Line {
				if line.Function == nil {
					continue
				}
				for _, pat := range c.patterns {
					if strings.Contains(line.Function.Name, pat) {
						return i
					}
				}
			}
		}
	}
	return len(cpuCategories)
}
