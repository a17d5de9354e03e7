package canary_test

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/canarygate/canarygate/pkg/canary"
)

var (
	basicChars   = regexp.MustCompile(canary.CharsetBasic)
	patternChars = regexp.MustCompile(canary.CharsetPattern)
)

// keepRunes drops every rune of s that set does not accept on its own.
func keepRunes(s string, set *regexp.Regexp, extra ...rune) string {
	return strings.Map(func(r rune) rune {
		for _, e := range extra {
			if r == e {
				return r
			}
		}
		if set.MatchString(string(r)) {
			return r
		}
		return -1
	}, s)
}

// FuzzNginxRoundTrip builds a Spec from arbitrary arguments, normalises it to
// one the controller accepts unchanged, and asserts
// FromNginx(s.Nginx() + canary: "true") == (s, true).
//
// Normalisation for the nginx round trip:
//   - a total of 0 becomes 100 (FromNginx reads a written 0 as the default);
//     every other int, negative or huge, is kept: the controller takes any
//     value strconv.Atoi accepts;
//   - header, header-value and cookie keep only CharsetBasic runes and
//     spaces, then are trimmed (the controller checks them with spaces
//     removed and trims them, so an inner space survives);
//   - header-pattern keeps only CharsetPattern runes (no spaces).
//
// The Spec is then normalised further to one FromKeys accepts, and
// FromKeys(nil, s.Keys()) == s is asserted too: a total below 100 becomes
// 100; the weight is reduced modulo total+1 (as uint64, so negative weights
// land in range too); spaces are removed from the basic strings; a pattern Go
// cannot compile is dropped.
func FuzzNginxRoundTrip(f *testing.F) {
	f.Add(0, 100, "", "", "", "")                                     // no strategy at all
	f.Add(20, 100, "", "", "", "")                                    // reference scenario step 3b
	f.Add(0, 100, "foo", "bar", "", "")                               // reference scenario step 3a
	f.Add(100, 100, "", "", "", "always")                             // full weight plus a cookie
	f.Add(-5, 0, "", "", "", "")                                      // negative weight, total written as 0
	f.Add(150, 50, "", "", "", "")                                    // above total, total below 100
	f.Add(5, 1000, "User-Agent", "", ".*", "")                        // unbounded exposure shape
	f.Add(1, math.MaxInt, "X=1", "a b", "a b(", "c;d")                // invalid characters and a huge total
	f.Add(math.MinInt, -1, " x ", "\t", "^(?=a)", "never")            // smallest weight, PCRE-only pattern
	f.Add(7, 101, "X-Canäry", "v\n1", `^\d+$|(a){2}`, "c:o/o~k.i_e-") // non-ASCII, newline, every basic punctuation
	f.Fuzz(func(t *testing.T, weight, total int, header, value, pattern, cookie string) {
		s := canary.Spec{
			Weight:        weight,
			WeightTotal:   total,
			Header:        strings.TrimSpace(keepRunes(header, basicChars, ' ')),
			HeaderValue:   strings.TrimSpace(keepRunes(value, basicChars, ' ')),
			HeaderPattern: keepRunes(pattern, patternChars),
			Cookie:        strings.TrimSpace(keepRunes(cookie, basicChars, ' ')),
		}
		if s.WeightTotal == 0 {
			s.WeightTotal = canary.DefaultWeightTotal
		}
		assertNginxRoundTrip(t, s)

		k := s
		if k.WeightTotal < canary.DefaultWeightTotal {
			k.WeightTotal = canary.DefaultWeightTotal
		}
		k.Weight = int(uint64(k.Weight) % (uint64(k.WeightTotal) + 1))
		k.Header = strings.ReplaceAll(k.Header, " ", "")
		k.HeaderValue = strings.ReplaceAll(k.HeaderValue, " ", "")
		k.Cookie = strings.ReplaceAll(k.Cookie, " ", "")
		if _, err := regexp.Compile(k.HeaderPattern); err != nil {
			k.HeaderPattern = ""
		}
		assertKeysRoundTrip(t, k)
		assertNginxRoundTrip(t, k)
	})
}

// FuzzFromNginx feeds arbitrary annotation values to FromNginx and asserts it
// never panics, that everything it returns passes the controller's
// character-set rules, that valid values come back untouched, and that
// reading is idempotent: rendering what was read and reading it again changes
// nothing.
func FuzzFromNginx(f *testing.F) {
	f.Add("true", "20", "", "", "", "", "")                               // reference scenario step 3b
	f.Add("true", "", "", "foo", "bar", "", "")                           // reference scenario step 3a
	f.Add("yes", "50", "", "", "", "", "")                                // invalid opt-in
	f.Add("1", "50%", "abc", "X=1", "a,b", "a b", "c;d")                  // every value invalid
	f.Add("t", " 50", "0", " User-Agent ", "a b", ".*", "always")         // spaces the controller trims or keeps
	f.Add("TRUE", "-5", "-5", "", "", "^(?=a)", "")                       // negative values, PCRE-only pattern
	f.Add("false", "150", "50", "X-Canary", "", "", "")                   // configured but not enabled
	f.Add("true", "99999999999999999999", "+1000", "\n", "\r", "\\", "ä") // overflow, control chars, non-ASCII
	f.Fuzz(func(t *testing.T, on, weight, total, header, value, pattern, cookie string) {
		a := map[string]string{
			canary.NginxCanary: on, canary.NginxWeight: weight, canary.NginxWeightTotal: total,
			canary.NginxHeader: header, canary.NginxHeaderValue: value,
			canary.NginxHeaderPattern: pattern, canary.NginxCookie: cookie,
		}
		s, enabled := canary.FromNginx(a)

		want, err := strconv.ParseBool(on)
		if enabled != (err == nil && want) {
			t.Errorf("canary %q: enabled = %v", on, enabled)
		}
		if s.WeightTotal == 0 {
			t.Error("WeightTotal is 0")
		}
		for _, b := range []struct{ name, in, out string }{
			{"header", header, s.Header}, {"header-value", value, s.HeaderValue}, {"cookie", cookie, s.Cookie},
		} {
			if b.out != strings.TrimSpace(b.out) || !basicChars.MatchString(strings.ReplaceAll(b.out, " ", "")) {
				t.Errorf("%s %q read as %q, outside the basic character set", b.name, b.in, b.out)
			}
			if b.out != "" && !strings.Contains(b.in, b.out) {
				t.Errorf("%s %q read as %q, which was not written", b.name, b.in, b.out)
			}
			if basicChars.MatchString(b.in) && b.out != b.in {
				t.Errorf("valid %s %q read as %q", b.name, b.in, b.out)
			}
		}
		if !patternChars.MatchString(s.HeaderPattern) || (s.HeaderPattern != "" && s.HeaderPattern != pattern) {
			t.Errorf("header-pattern %q read as %q", pattern, s.HeaderPattern)
		}
		if patternChars.MatchString(pattern) && s.HeaderPattern != pattern {
			t.Errorf("valid header-pattern %q read as %q", pattern, s.HeaderPattern)
		}
		assertNginxRoundTrip(t, s)
	})
}
