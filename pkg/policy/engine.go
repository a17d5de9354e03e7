// Package policy compiles canarygate's Rego policies once and evaluates them
// per admission request. The Go side supplies the facts (the input document
// built by package validate); the policies decide.
//
// Policies come from the embedded built-ins and from sources (Open): plain
// directories, OPA bundle directories and archives, and bundle URLs, with
// optional signature verification. A Reloader keeps a served set current
// as sources change, keeping the last good set when a new one fails.
package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/canarygate/canarygate/pkg/canary"
	"github.com/canarygate/canarygate/policies"
)

// DecisionQuery is the rule every evaluation reads: the set of decision items
// of the built-in and platform rules with their endpoint and enforcement.
const DecisionQuery = "data.canarygate.builtin.main.decision"

// Endpoints a code belongs to.
const (
	EndpointGate = "gate"
	EndpointLint = "lint"
)

// Enforcements of a code. Evaluate returns items of every enforcement:
// callers deny on EnforceDeny, warn on EnforceWarn, and only record (log
// and count) EnforceDryRun items, which never block or warn, so a platform
// can watch what a new rule would do before enforcing it.
const (
	EnforceDeny   = "deny"
	EnforceWarn   = "warn"
	EnforceDryRun = "dryrun"
)

// Item is one decision a policy made about an object.
type Item struct {
	Code        string `json:"code"`
	Message     string `json:"message"`
	Field       string `json:"field,omitempty"`
	Endpoint    string `json:"endpoint"`
	Enforcement string `json:"enforcement"`
	// Origin is "builtin" or "ext/<name>" for platform rules.
	Origin string `json:"origin,omitempty"`
}

// Source is one set of policy modules and data.
type Source struct {
	// Name identifies the source in errors (a path, a URL or "builtin").
	Name string
	// Modules maps a file name to Rego source.
	Modules map[string]string
	// Data is merged into the data document at its root.
	Data map[string]any
	// Roots are the paths of the data document the source owns, as a
	// bundle's .manifest lists them ("canarygate/ext/platform"; "" is all of
	// data). Nil means the roots are implied by the content: the first three
	// segments of every package under canarygate.ext (canarygate/ext/<name>),
	// canarygate/config for data there, and so on. Load rejects two sources
	// whose roots overlap, and a source overlapping the built-ins'
	// canarygate/builtin.
	Roots []string
	// Revision is the bundle's .manifest revision; "" for plain directories.
	Revision string
	// Kind says what the source was read from: one of the Kind constants;
	// "" for sources built in Go.
	Kind string
}

// Kinds of policy sources (Source.Kind).
const (
	KindBuiltin         = "builtin"
	KindDirectory       = "directory"
	KindBundleDirectory = "bundle directory"
	KindTarball         = "bundle archive"
	KindURL             = "bundle URL"
)

// BuiltinRoot is the root of the data document the built-in policies own:
// their rules, code table, default settings and vocabulary.
const BuiltinRoot = "canarygate/builtin"

// ConfigRoot is the root of the platform's settings, profiles and
// enforcement; at most one source may provide it.
const ConfigRoot = "canarygate/config"

// Options selects the policy sources an Engine loads.
type Options struct {
	// Builtin loads the embedded built-in policies. Turning them off is for
	// platform teams that replace every rule; the defaults data stays loaded
	// because the entry point and config merging read it.
	Builtin bool
	// Sources are platform policy sources loaded next to the built-ins.
	Sources []Source
}

// Engine is a compiled policy set, safe for concurrent use.
type Engine struct {
	query    rego.PreparedEvalQuery
	compiler *ast.Compiler
	store    storage.Store
	modules  map[string]*ast.Module
	codes    map[string]Code
}

// Code is the documented metadata of a built-in code.
type Code struct {
	Endpoint    string `json:"endpoint"`
	Enforcement string `json:"enforcement"`
	Title       string `json:"title"`
}

// Builtin returns the embedded built-in policies as a Source; with tests
// false, `_test.rego` modules are left out.
func Builtin(tests bool) (Source, error) {
	src := Source{Name: "builtin", Kind: KindBuiltin, Roots: []string{BuiltinRoot}, Modules: map[string]string{}, Data: map[string]any{}}
	entries, err := fs.ReadDir(policies.FS, ".")
	if err != nil {
		return src, fmt.Errorf("%w: reading embedded policies: %w", ErrLoad, err)
	}
	for _, e := range entries {
		name := e.Name()
		raw, err := fs.ReadFile(policies.FS, name)
		if err != nil {
			return src, fmt.Errorf("%w: reading embedded %s: %w", ErrLoad, name, err)
		}
		switch path.Ext(name) {
		case ".rego":
			if !tests && strings.HasSuffix(name, "_test.rego") {
				continue
			}
			src.Modules["policies/"+name] = string(raw)
		case ".json":
			var doc map[string]any
			if err := util.UnmarshalJSON(raw, &doc); err != nil {
				return src, fmt.Errorf("%w: policies/%s: %w", ErrLoad, name, err)
			}
			if err := merge(src.Data, doc, ""); err != nil {
				return src, fmt.Errorf("%w: policies/%s: %w", ErrLoad, name, err)
			}
		}
	}
	if err := merge(src.Data, map[string]any{"canarygate": map[string]any{"builtin": map[string]any{"vocab": canary.Vocabulary()}}}, ""); err != nil {
		return src, fmt.Errorf("%w: vocabulary: %w", ErrLoad, err)
	}
	return src, nil
}

// Load compiles the built-ins and the selected sources once. It returns an
// error wrapping ErrLoad when two sources provide canarygate.config, when
// roots overlap (also wrapping ErrRoots, naming both sources and roots: the
// built-ins own canarygate/builtin), when a module is provided twice, or
// when Rego does not parse or compile (naming the file and line).
func Load(ctx context.Context, opts Options) (*Engine, error) {
	return load(ctx, opts, modeServe)
}

// loadMode says what load compiles the set for.
type loadMode int

const (
	// modeServe prepares the decision query.
	modeServe loadMode = iota
	// modeTestAll compiles for the test runner, built-in tests included.
	modeTestAll
	// modeTestSources compiles for the test runner without the built-in
	// tests: only the sources' own tests run.
	modeTestSources
)

func load(ctx context.Context, opts Options, mode loadMode) (*Engine, error) {
	builtin, err := Builtin(mode == modeTestAll)
	if err != nil {
		return nil, err
	}
	if !opts.Builtin {
		// Keep the entry point, the config merging and the data; drop rules.
		kept := map[string]string{}
		for name, src := range builtin.Modules {
			if name == "policies/main.rego" || name == "policies/config.rego" {
				kept[name] = src
			}
		}
		builtin.Modules = kept
	}
	sources := append([]Source{builtin}, opts.Sources...)

	configFrom := ""
	for _, s := range opts.Sources {
		if cg, ok := s.Data["canarygate"].(map[string]any); ok && cg["config"] != nil {
			if configFrom != "" {
				return nil, fmt.Errorf("%w: both %s and %s provide canarygate.config; only one policy source may (merge their settings into one)", ErrLoad, configFrom, s.Name)
			}
			configFrom = s.Name
		}
	}

	modules := map[string]*ast.Module{}
	roots := make([][]string, len(sources))
	for i, s := range sources {
		var implied []string
		for name, text := range s.Modules {
			if _, dup := modules[name]; dup {
				return nil, fmt.Errorf("%w: module %s is provided twice (second by %s)", ErrLoad, name, s.Name)
			}
			m, err := ast.ParseModuleWithOpts(name, text, ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				return nil, fmt.Errorf("%w: %s: %w", ErrLoad, s.Name, err)
			}
			modules[name] = m
			implied = append(implied, packageRoot(m.Package.Path))
		}
		switch {
		case i == 0:
			roots[i] = []string{BuiltinRoot}
		case s.Roots != nil:
			roots[i] = s.Roots
		default:
			roots[i] = dedupe(append(implied, dataRoots(s.Data)...))
		}
	}
	if err := checkRoots(sources, roots); err != nil {
		return nil, err
	}

	data := map[string]any{}
	for _, s := range sources {
		if err := merge(data, s.Data, ""); err != nil {
			return nil, fmt.Errorf("%w: data of %s: %w", ErrLoad, s.Name, err)
		}
	}

	compiler := ast.NewCompiler().WithEnablePrintStatements(mode != modeServe)
	compiler.Compile(modules)
	if compiler.Failed() {
		return nil, fmt.Errorf("%w: %w", ErrLoad, compiler.Errors)
	}
	store := inmem.NewFromObject(data)
	e := &Engine{compiler: compiler, store: store, modules: modules, codes: map[string]Code{}}
	if err := e.readCodes(data); err != nil {
		return nil, err
	}
	if mode != modeServe {
		return e, nil
	}
	q, err := rego.New(
		rego.Query(DecisionQuery),
		rego.Compiler(compiler),
		rego.Store(store),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: preparing %s: %w", ErrLoad, DecisionQuery, err)
	}
	e.query = q
	return e, nil
}

func (e *Engine) readCodes(data map[string]any) error {
	cg, _ := data["canarygate"].(map[string]any)
	b, _ := cg["builtin"].(map[string]any)
	codes, _ := b["codes"].(map[string]any)
	raw, err := json.Marshal(codes)
	if err != nil {
		return fmt.Errorf("%w: codes table: %w", ErrLoad, err)
	}
	if err := util.UnmarshalJSON(raw, &e.codes); err != nil {
		return fmt.Errorf("%w: codes table: %w", ErrLoad, err)
	}
	return nil
}

// Codes returns the documented built-in codes.
func (e *Engine) Codes() map[string]Code { return e.codes }

// Evaluate returns the decision items for one input document. The input
// must already be an ast.Value (see ToValue) so it is not re-parsed per
// evaluation. Items are sorted by code, field and message so output is
// stable. An evaluation error is returned as is: callers on the gate deny.
func (e *Engine) Evaluate(ctx context.Context, input ast.Value) ([]Item, error) {
	rs, err := e.query.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return nil, fmt.Errorf("evaluating policies: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, nil
	}
	set, ok := rs[0].Expressions[0].Value.([]any)
	if !ok {
		return nil, fmt.Errorf("evaluating policies: %s is %T, want a set", DecisionQuery, rs[0].Expressions[0].Value)
	}
	items := make([]Item, 0, len(set))
	for _, v := range set {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("evaluating policies: decision item is %T, want an object", v)
		}
		it := Item{
			Code:        str(obj["code"]),
			Message:     str(obj["message"]),
			Field:       str(obj["field"]),
			Endpoint:    str(obj["endpoint"]),
			Enforcement: str(obj["enforcement"]),
			Origin:      str(obj["origin"]),
		}
		if it.Code == "" {
			return nil, fmt.Errorf("evaluating policies: a decision item from %s has no code: %v", it.Origin, obj)
		}
		switch it.Enforcement {
		case EnforceDeny, EnforceWarn, EnforceDryRun:
		default:
			// A misspelt enforcement must not weaken a rule.
			it.Enforcement = EnforceDeny
		}
		if it.Endpoint != EndpointLint {
			it.Endpoint = EndpointGate
		}
		items = append(items, it)
	}
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		return a.Message < b.Message
	})
	return items, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// merge deep-merges src into dst; two different leaves at one path are an
// error naming the path, because OPA refuses the same conflict.
func merge(dst, src map[string]any, at string) error {
	for k, v := range src {
		p := at + "/" + k
		existing, ok := dst[k]
		if !ok {
			dst[k] = v
			continue
		}
		em, eok := existing.(map[string]any)
		vm, vok := v.(map[string]any)
		if !eok || !vok {
			return fmt.Errorf("conflicting values at %s", p)
		}
		if err := merge(em, vm, p); err != nil {
			return err
		}
	}
	return nil
}
