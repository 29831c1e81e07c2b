package policies

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Load reads the config at path: a file, or a directory meaning every *.hcl
// file in it (sorted by name), merged into one config. It returns a nil
// Config when the diagnostics hold an error; warnings may come with a valid
// Config. All problems found are reported, not only the first.
func Load(path string) (*Config, hcl.Diagnostics) {
	names, diags := configFiles(path)
	if diags.HasErrors() {
		return nil, diags
	}
	var files []*hcl.File
	for _, name := range names {
		src, err := os.ReadFile(name)
		if err != nil {
			diags = append(diags, errorAt(fileStart(name), "Cannot read configuration file", "%s", ioCause(err)))
			continue
		}
		f, d := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
		diags = append(diags, d...)
		files = append(files, f)
	}
	if diags.HasErrors() {
		// Decoding a body with syntax errors only adds confusing follow-on errors.
		return nil, diags
	}
	return decode(files, names, diags)
}

// Parse decodes one in-memory file. filename is used in diagnostics and as
// the base directory of relative paths (file(), certificate files).
func Parse(filename string, src []byte) (*Config, hcl.Diagnostics) {
	f, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	return decode([]*hcl.File{f}, []string{filename}, diags)
}

// configFiles lists the files that make up the config at path.
func configFiles(path string) ([]string, hcl.Diagnostics) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read configuration",
			Detail: fmt.Sprintf("%s: %s", path, ioCause(err))}}
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read configuration directory",
			Detail: fmt.Sprintf("%s: %s", path, ioCause(err))}}
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".hcl") && !e.IsDir() {
			names = append(names, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "No configuration files",
			Detail: fmt.Sprintf("The directory %s holds no *.hcl file.", path)}}
	}
	return names, nil
}

func fileStart(name string) hcl.Range {
	return hcl.Range{Filename: name, Start: hcl.InitialPos, End: hcl.InitialPos}
}

// ioCause drops the path an *fs.PathError repeats, for messages that name the path themselves.
func ioCause(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// evalContext returns the evaluation context for expressions of the file
// filename: no variables, and the functions env and file, the latter
// resolving relative paths against filename's directory.
func evalContext(filename string) *hcl.EvalContext {
	dir := filepath.Dir(filename)
	return &hcl.EvalContext{Functions: map[string]function.Function{
		"env":  envFunc,
		"file": fileFunc(dir),
	}}
}

// envFunc is env("NAME"): the value of an environment variable; an unset
// variable is an error naming it (an empty one is a value).
var envFunc = function.New(&function.Spec{
	Description: "Returns the value of an environment variable.",
	Params:      []function.Parameter{{Name: "name", Type: cty.String}},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		name := args[0].AsString()
		v, ok := os.LookupEnv(name)
		if !ok {
			return cty.NilVal, fmt.Errorf("the environment variable %q is not set", name)
		}
		if !utf8.ValidString(v) {
			return cty.NilVal, fmt.Errorf("the environment variable %q is not valid UTF-8", name)
		}
		return cty.StringVal(v), nil
	},
})

// fileFunc is file("path"): the contents of a regular file of at most 1 MiB,
// valid UTF-8, with one trailing newline removed (so that `echo secret > f`
// yields "secret"). A relative path is relative to dir, the directory of the
// config file that calls it.
func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the contents of a file, without its trailing newline.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			full := resolvePath(dir, p)
			where := fmt.Sprintf("%q", p)
			if full != p {
				where += fmt.Sprintf(" (resolved to %q)", full)
			}
			s, err := readSmallFile(full)
			if err != nil {
				return cty.NilVal, fmt.Errorf("cannot read file %s: %v", where, err)
			}
			return cty.StringVal(s), nil
		},
	})
}

func readSmallFile(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", errors.New(ioCause(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", errors.New(ioCause(err))
	}
	if !fi.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return "", errors.New(ioCause(err))
	}
	if len(b) > maxFileSize {
		return "", fmt.Errorf("larger than %d bytes", maxFileSize)
	}
	if !utf8.Valid(b) {
		return "", errors.New("the contents are not valid UTF-8")
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		return t, nil
	}
	return strings.TrimSuffix(s, "\n"), nil
}

// resolvePath makes p absolute against dir (p unchanged when already absolute or empty).
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if abs, err := filepath.Abs(filepath.Join(dir, p)); err == nil {
		return abs
	}
	return filepath.Join(dir, p)
}
