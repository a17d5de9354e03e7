package policy

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

type inner struct {
	A string            `json:"a"`
	B int64             `json:"b,omitempty"`
	M map[string]string `json:"m"`
}

type outer struct {
	Name    string         `json:"name"`
	Ptr     *inner         `json:"ptr"`
	NilPtr  *inner         `json:"nilPtr,omitempty"`
	List    []inner        `json:"list"`
	Empty   []string       `json:"empty"`
	Dynamic map[string]any `json:"dynamic"`
	Targets map[string]inner
	Skipped string `json:"-"`
	OK      bool   `json:"ok"`
	Float   float64
}

// TestToValueMatchesJSON pins ToValue to what a JSON round trip produces,
// which is what the policies were written against.
func TestToValueMatchesJSON(t *testing.T) {
	tests := map[string]any{
		"a nested struct with omitempty, nil pointers and maps": outer{
			Name: "x", Ptr: &inner{A: "a", M: map[string]string{"k": "v"}},
			List: []inner{{A: "1", B: 2}}, Empty: []string{},
			Dynamic: map[string]any{"spec": map[string]any{"n": int64(3), "f": 1.5, "l": []any{"a", nil, true}}},
			Targets: map[string]inner{"ns/n": {A: "t"}}, Skipped: "hidden", OK: true, Float: 0.25,
		},
		"a nil slice becomes null": outer{},
		"a bare map":               map[string]any{"a": "b"},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ToValue(in)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			want, err := ast.ValueFromReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if got.Compare(want) != 0 {
				t.Fatalf("ToValue = %v\nJSON     = %v", got, want)
			}
		})
	}
}

func TestToValueRejectsWhatJSONRejects(t *testing.T) {
	if _, err := ToValue(map[int]string{1: "a"}); err == nil {
		t.Fatal("want an error for a map with int keys")
	}
	if _, err := ToValue(struct{ C chan int }{C: make(chan int)}); err == nil {
		t.Fatal("want an error for a channel")
	}
}
