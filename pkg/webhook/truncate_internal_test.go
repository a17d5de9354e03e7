package webhook

import (
	"slices"
	"strings"
	"testing"
)

func TestTruncate(t *testing.T) {
	line := func(n int) string { return strings.Repeat("w", n) }
	tests := map[string]struct {
		in   []string
		want []string
	}{
		"no warnings stay none": {},
		"warnings within the limit are kept as they are": {
			in: []string{"a", "b"}, want: []string{"a", "b"},
		},
		"warnings filling the limit exactly are kept": {
			in: []string{line(1900), line(1900)}, want: []string{line(1900), line(1900)},
		},
		"one byte over the limit leaves the last warning out and says so": {
			in:   []string{line(1900), line(1901)},
			want: []string{line(1900), "1 more warning(s) left out; run canarygate check for all of them"},
		},
		"every warning past the limit is counted": {
			in:   []string{line(3000), line(700), line(200), "x", "y"},
			want: []string{line(3000), line(700), "3 more warning(s) left out; run canarygate check for all of them"},
		},
		"a single warning over the limit is replaced by the count": {
			in:   []string{line(5000)},
			want: []string{"1 more warning(s) left out; run canarygate check for all of them"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			got := truncate(in)
			if !slices.Equal(got, tc.want) {
				t.Errorf("truncate() = %d warnings %.80q, want %d %.80q", len(got), got, len(tc.want), tc.want)
			}
			if !slices.Equal(in, tc.in) {
				t.Errorf("truncate() changed its argument")
			}
			total := 0
			for _, w := range got {
				total += len(w)
			}
			if total >= 4096 {
				t.Errorf("truncate() kept %d bytes, want under 4 KiB", total)
			}
		})
	}
}

func TestCheckReview(t *testing.T) {
	tests := map[string]struct {
		body string
		want string // "" = accepted
	}{
		"as the API server writes it": {
			body: `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"1"}}`,
		},
		"v1beta1 with the request first": {
			body: `{"request":{"uid":"1","object":{"kind":"Service","apiVersion":"v1"}},"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}`,
		},
		"a string with escapes": {body: `{"kind":"Admission\u0052eview","apiVersion":"admission.k8s.io/v1","request":{"uid":"1"}}`},
		"empty":                 {body: "  ", want: "request body is empty"},
		"missing type":          {body: `{"request":{"uid":"1"}}`, want: `body has apiVersion "" and kind ""`},
		"not an object":         {body: `["AdmissionReview"]`, want: "not a JSON AdmissionReview"},
		"not strings":           {body: `{"apiVersion":1,"kind":"AdmissionReview"}`, want: "not a JSON AdmissionReview"},
		"not JSON":              {body: `{"kind":`, want: "not a JSON AdmissionReview"},
		"no request":            {body: `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}`, want: "has no request"},
		"no uid":                {body: `{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}}`, want: "has no uid"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := checkReview([]byte(tc.body))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("checkReview(%s) = %v, want accepted", tc.body, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("checkReview(%s) = %v, want an error containing %q", tc.body, err, tc.want)
			}
		})
	}
}
