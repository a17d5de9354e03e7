package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

const fixtures = "../../test/fixtures/scenario"

func TestCheckExitStatus(t *testing.T) {
	state := []string{
		"--state", filepath.Join(fixtures, "00-isvc-model-v1.yaml"),
		"--state", filepath.Join(fixtures, "00-isvc-model-v2.yaml"),
		"--state", filepath.Join(fixtures, "01-services.yaml"),
	}
	tests := map[string]struct {
		args   []string
		stdin  string
		code   int
		stderr string
		stdout string
	}{
		"nothing denied exits 0": {
			args: append([]string{"check", "-f", filepath.Join(fixtures, "02-ingress.yaml")}, state...),
			code: 0, stdout: "1 object(s): 0 denied",
		},
		"an unverified switch exits 1": {
			args: append([]string{"check", "-f", filepath.Join(fixtures, "04-switch.yaml")}, state...),
			code: 1, stdout: "[CG301]",
		},
		"no -f exits 2": {
			args: []string{"check"}, code: 2, stderr: "give at least one -f",
		},
		"an unknown output format exits 2": {
			args: []string{"check", "-f", fixtures, "-o", "yaml"}, code: 2, stderr: `unknown --output "yaml"`,
		},
		"an unknown flag exits 2": {
			args: []string{"check", "--frobnicate"}, code: 2, stderr: "unknown flag",
		},
		"stdin is read for -": {
			args:  []string{"check", "-f", "-"},
			stdin: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
			code:  0, stdout: "allowed CREATE ConfigMap default/x -:1",
		},
		"an empty stdin exits 2": {
			args: []string{"check", "-f", "-"}, code: 2, stderr: "no Kubernetes objects found",
		},
		"invalid YAML exits 2 with FILE:LINE": {
			args: []string{"check", "-f", "-"}, stdin: "apiVersion: v1\nkind: [\n", code: 2, stderr: "-:3: invalid YAML",
		},
		"a policy directory with a package outside canarygate.ext exits 2": {
			args: []string{"check", "-f", fixtures, "--policy", "testdata/badpolicy"}, code: 2, stderr: "outside canarygate.ext",
		},
		"two policy sources providing canarygate.config exit 2": {
			args: []string{"check", "-f", fixtures, "--policy", "testdata/config-a", "--policy", "testdata/config-b"}, code: 2,
			stderr: "both testdata/config-a and testdata/config-b provide canarygate.config",
		},
		"platform data lowers max_unverified_weight": {
			args: append([]string{"check", "-f", filepath.Join(fixtures, "03b-canary-weight.yaml"), "--policy", "testdata/config-a",
				"--state", filepath.Join(fixtures, "02-ingress.yaml")}, state...),
			code: 1, stdout: "[CG302]",
		},
		"policy test passes on the example bundle": {
			args: []string{"policy", "test", "../../examples/platform-bundle"}, code: 0, stdout: "PASS",
		},
		"policy test refuses an unsigned bundle when a key is set": {
			args: []string{"policy", "test", "../../examples/platform-bundle", "--policy-verification-key", "testdata/policy-key.pub.pem"},
			code: 2, stderr: "signed",
		},
		"policy inspect lists the example's codes": {
			args: []string{"policy", "inspect", "../../examples/platform-bundle", "-o", "json"}, code: 0, stdout: "CGX01",
		},
		"check with the example bundle in a prod namespace": {
			args: []string{"check", "-f", filepath.Join(fixtures, "03b-canary-weight.yaml"), "--policy", "../../examples/platform-bundle", "-n", "default"},
			code: 0, stdout: "allowed",
		},
		"version prints the version": {
			args: []string{"version"}, code: 0, stdout: "canarygate dev",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tc.args, strings.NewReader(tc.stdin), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("stderr %q lacks %q", stderr.String(), tc.stderr)
			}
			if !strings.Contains(stdout.String(), tc.stdout) {
				t.Fatalf("stdout %q lacks %q", stdout.String(), tc.stdout)
			}
		})
	}
}

func TestCheckJSONPrintsOnlyTheDocument(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"check", "-o", "json", "-f", filepath.Join(fixtures, "04-switch.yaml"), "--state", filepath.Join(fixtures, "00-isvc-model-v1.yaml")}, strings.NewReader(""), &stdout, &stderr)
	if code == 2 {
		t.Fatalf("run failed: %s", stderr.String())
	}
	var doc map[string]any
	dec := json.NewDecoder(&stdout)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not one JSON document: %v", err)
	}
	if dec.More() {
		t.Fatal("stdout holds more than the JSON document")
	}
}

func TestPlatformPolicyDirectoryIsEnforced(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"check", "-f", filepath.Join(fixtures, "01-services.yaml"), "--policy", "testdata/platform"}, strings.NewReader(""), &stdout, &stderr)
	if code != 1 || !strings.Contains(stdout.String(), "[EX001]") {
		t.Fatalf("exit %d; the platform rule did not deny:\n%s\n%s", code, stdout.String(), stderr.String())
	}
}
