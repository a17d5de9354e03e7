package policy

import (
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// ToValue converts a Go value to an ast.Value for Evaluate without a JSON
// round trip: structs are walked by their json tags (omitempty honoured),
// maps with string keys become objects, slices arrays, and plain values
// (including unstructured object content) go through ast.InterfaceToValue.
// It returns an error for values JSON could not encode either (channels,
// functions, maps with non-string keys).
func ToValue(x any) (ast.Value, error) {
	if x == nil {
		return ast.NullValue, nil
	}
	return toValue(reflect.ValueOf(x))
}

func toValue(v reflect.Value) (ast.Value, error) {
	switch v.Kind() {
	case reflect.Invalid:
		return ast.NullValue, nil
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return ast.NullValue, nil
		}
		if v.Kind() == reflect.Interface {
			// Dynamic content (unstructured objects) is already made of
			// JSON types: InterfaceToValue handles it directly.
			return ast.InterfaceToValue(v.Interface())
		}
		return toValue(v.Elem())
	case reflect.Struct:
		info := fieldsOf(v.Type())
		kvs := make([][2]*ast.Term, 0, len(info))
		for _, f := range info {
			fv := v.Field(f.index)
			if f.omitEmpty && fv.IsZero() {
				continue
			}
			val, err := toValue(fv)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.name, err)
			}
			kvs = append(kvs, [2]*ast.Term{f.key, ast.NewTerm(val)})
		}
		return ast.NewObject(kvs...), nil
	case reflect.Map:
		if m, ok := v.Interface().(map[string]string); ok {
			// Labels, annotations and conditions: the commonest maps of
			// the input, converted without reflection.
			if m == nil {
				return ast.NullValue, nil
			}
			kvs := make([][2]*ast.Term, 0, len(m))
			for k, e := range m {
				kvs = append(kvs, [2]*ast.Term{ast.StringTerm(k), ast.StringTerm(e)})
			}
			return ast.NewObject(kvs...), nil
		}
		if v.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key type %s is not a string", v.Type().Key())
		}
		if v.IsNil() {
			return ast.NullValue, nil
		}
		if m, ok := v.Interface().(map[string]any); ok {
			return ast.InterfaceToValue(m)
		}
		kvs := make([][2]*ast.Term, 0, v.Len())
		it := v.MapRange()
		for it.Next() {
			val, err := toValue(it.Value())
			if err != nil {
				return nil, err
			}
			kvs = append(kvs, [2]*ast.Term{ast.StringTerm(it.Key().String()), ast.NewTerm(val)})
		}
		return ast.NewObject(kvs...), nil
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return ast.NullValue, nil
		}
		terms := make([]*ast.Term, v.Len())
		for i := range terms {
			val, err := toValue(v.Index(i))
			if err != nil {
				return nil, err
			}
			terms[i] = ast.NewTerm(val)
		}
		return ast.NewArray(terms...), nil
	case reflect.String:
		return ast.String(v.String()), nil
	case reflect.Bool:
		return ast.Boolean(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return ast.InterfaceToValue(v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return ast.InterfaceToValue(v.Uint())
	case reflect.Float32, reflect.Float64:
		return ast.InterfaceToValue(v.Float())
	}
	return nil, fmt.Errorf("cannot convert a %s to a policy value", v.Type())
}

type fieldInfo struct {
	name string
	// key is the field name as a term, made once per type: every
	// conversion of the type shares it (terms are never modified).
	key       *ast.Term
	index     int
	omitEmpty bool
}

var fieldCache sync.Map // reflect.Type → []fieldInfo

// fieldsOf returns the exported fields of a struct type as JSON names them.
// Embedded structs are not flattened: the input types have none.
func fieldsOf(t reflect.Type) []fieldInfo {
	if cached, ok := fieldCache.Load(t); ok {
		return cached.([]fieldInfo)
	}
	var out []fieldInfo
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, fieldInfo{name: name, key: ast.StringTerm(name), index: i, omitEmpty: strings.Contains(opts, "omitempty")})
	}
	fieldCache.Store(t, out)
	return out
}
