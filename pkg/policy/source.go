package policy

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"sigs.k8s.io/yaml"
)

// FromDir reads a platform policy directory.
//
// A directory without a .manifest (or .signatures.json) holds .rego modules
// and .json/.yaml data files, data placed at the file's directory path below
// the root (the layout `opa build` takes). It may only hold packages under
// canarygate.ext. and data under canarygate.config (DESIGN §5), so it can
// neither shadow nor erase the built-ins; its roots are implied by what it
// holds.
//
// A directory with a .manifest is an OPA bundle and is read like Open reads
// it without a verification key: only data.json/data.yaml files are data,
// and the .manifest roots say what it owns. Use Open to verify signatures.
func FromDir(dir string) (Source, error) {
	src := Source{Name: dir, Kind: KindDirectory, Modules: map[string]string{}, Data: map[string]any{}}
	st, err := os.Stat(dir)
	if err != nil {
		return src, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	if !st.IsDir() {
		return src, fmt.Errorf("%w: %s is not a directory; use policy.Open for .tar.gz bundles and URLs", ErrLoad, dir)
	}
	if isBundleDir(dir) {
		files, err := readDirFiles(dir)
		if err != nil {
			return src, fmt.Errorf("%w: %s: %w", ErrLoad, dir, err)
		}
		return readBundle(dir, KindBundleDirectory, files, nil)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		switch ext := filepath.Ext(path); ext {
		case ".rego":
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			m, err := ast.ParseModuleWithOpts(path, string(raw), ast.ParserOptions{RegoVersion: ast.RegoV1})
			if err != nil {
				return err
			}
			pkg := strings.TrimPrefix(m.Package.Path.String(), "data.")
			if !strings.HasPrefix(pkg, "canarygate.ext.") {
				return fmt.Errorf("%s:%d: package %s is outside canarygate.ext.<name>; platform rules must live there (the built-ins own canarygate.builtin), or add a .manifest to make the directory a bundle with roots of its own", path, m.Package.Location.Row, pkg)
			}
			src.Modules[path] = string(raw)
		case ".json", ".yaml", ".yml":
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var doc map[string]any
			if err := yaml.Unmarshal(raw, &doc); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			at := filepath.Dir(rel)
			if at != "." {
				for _, part := range reverse(strings.Split(filepath.ToSlash(at), "/")) {
					doc = map[string]any{part: doc}
				}
			}
			for k, v := range doc {
				cg, ok := v.(map[string]any)
				if k != "canarygate" || !ok || len(cg) != 1 || cg["config"] == nil {
					return fmt.Errorf("%s: data must sit under canarygate.config (found top-level key %q); platform settings go there", path, k)
				}
			}
			if err := merge(src.Data, doc, ""); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
		return nil
	})
	if err != nil {
		return src, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	return src, nil
}

// isBundleDir reports whether a directory is an OPA bundle: it has a
// .manifest or a .signatures.json at its top.
func isBundleDir(dir string) bool {
	for _, name := range []string{".manifest", ".signatures.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return true
		}
	}
	return false
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	copy(out, s)
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
