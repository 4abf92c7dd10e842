package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The configuration file (INDEXER_CONFIG) lists sources:
//
//	defaults:                      # optional, for every source that does not say
//	  schedule: "*/5 * * * *"
//	  per_page: 100
//	sources:
//	  - name: prod-bj4
//	    region: cn-north-4
//	    project_id: 0123456789abcdef0123456789abcdef
//	    ak: {env: PROD_AK}         # or a plain string: an access key id is not a secret
//	    sk: {file: /run/secrets/prod_sk}
//	    schedule: "@every 10m"
//
// Secrets (sk, password, security_token) are references only, {env: NAME} or
// {file: PATH}: a secret written in the file itself is refused, so that the
// file can be reviewed, versioned and shared. A relative PATH is relative to the
// file's directory. Unknown keys are errors (a typo must not silently drop a setting).

// fileConfig is the file's layout. A source's keys, and those its defaults may set, are the Key of
// the rows of the table settings.
type fileConfig struct {
	Defaults fileDefaults `yaml:"defaults"`
	Sources  []fileSource `yaml:"sources"`
}

// fileSource is one source of the file: its plain settings decoded into a Source, its credentials
// kept as references until loadFile resolves them.
type fileSource struct {
	src  Source
	refs map[string]secretRef // by key
}

// fileDefaults are the settings of the file's defaults (rows with inDefaults).
type fileDefaults struct{ fileSource }

func (f *fileSource) UnmarshalYAML(n *yaml.Node) error {
	return f.decode(n, "a source is a mapping of keys (name: ..., project_id: ...)", func(*Setting) bool { return true })
}

func (f *fileDefaults) UnmarshalYAML(n *yaml.Node) error {
	return f.decode(n, "defaults: is a mapping of keys (schedule: ..., per_page: ...)", func(st *Setting) bool { return st.inDefaults })
}

// decode reads a mapping of the rows' keys that allowed accepts: merge keys, aliases and repeated
// keys as yaml treats them, type errors as yaml words them, and an unknown key as an error naming
// its line, so that a typo does not silently drop a setting.
func (f *fileSource) decode(n *yaml.Node, what string, allowed func(*Setting) bool) error {
	if n.Kind != yaml.MappingNode {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s, not %s", n.Line, what, kindName(n))}}
	}
	var values map[string]yaml.Node
	if err := n.Decode(&values); err != nil {
		return err
	}
	keyLine := map[string]int{} // where each key is written (a merged key: where its value is)
	for i := 0; i+1 < len(n.Content); i += 2 {
		keyLine[n.Content[i].Value] = n.Content[i].Line
	}
	keys := slices.SortedFunc(maps.Keys(values), func(a, b string) int {
		return cmp.Or(cmp.Compare(cmp.Or(keyLine[a], values[a].Line), cmp.Or(keyLine[b], values[b].Line)), strings.Compare(a, b))
	})
	var msgs []string
	f.refs = map[string]secretRef{}
	for _, key := range keys {
		v := values[key]
		st := settingByKey(key)
		if st == nil || !allowed(st) {
			msgs = append(msgs, fmt.Sprintf("line %d: unknown key %q", cmp.Or(keyLine[key], v.Line), key))
			continue
		}
		var err error
		if st.Secret {
			var ref secretRef
			err = v.Decode(&ref)
			f.refs[key] = ref
		} else {
			dst := st.source(&f.src)
			err = v.Decode(dst)
			if p, ok := dst.(*string); ok {
				*p = strings.TrimSpace(*p)
			}
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs = append(msgs, te.Errors...)
		} else if err != nil {
			return err
		}
	}
	if len(msgs) > 0 {
		return &yaml.TypeError{Errors: msgs}
	}
	return nil
}

// settingByKey returns the row of a key of the file; nil: none.
func settingByKey(key string) *Setting {
	for i := range settings {
		if settings[i].Key == key {
			return &settings[i]
		}
	}
	return nil
}

// secretRef is a credential of the file: {env: NAME}, {file: PATH} or, where
// allowed, a plain string.
type secretRef struct {
	Env, File, Literal string
	line               int
}

func (r *secretRef) UnmarshalYAML(n *yaml.Node) error {
	r.line = n.Line
	typeErr := func(format string, a ...any) error {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: ", n.Line) + fmt.Sprintf(format, a...)}}
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag != "!!null" {
			r.Literal = n.Value
		}
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Kind != yaml.ScalarNode {
				return typeErr("%s must be a string", k.Value)
			}
			switch k.Value {
			case "env":
				r.Env = strings.TrimSpace(v.Value)
			case "file":
				r.File = strings.TrimSpace(v.Value)
			default:
				return typeErr("unknown key %q in a credential: use {env: VARIABLE} or {file: PATH}", k.Value)
			}
		}
		if (r.Env == "") == (r.File == "") {
			return typeErr("a credential is {env: VARIABLE} or {file: PATH}: give exactly one of env and file")
		}
		return nil
	}
	return typeErr("a credential is {env: VARIABLE} or {file: PATH}")
}

// resolve returns the credential's value. field names it in errors, which never
// carry a value.
func (r secretRef) resolve(field string, literalOK bool, dir string, getenv func(string) string) (string, error) {
	switch {
	case r.Literal != "":
		if !literalOK {
			return "", fmt.Errorf("%s: a secret cannot be written in the configuration file (line %d): "+
				"use %s: {env: VARIABLE} or %s: {file: PATH}", field, r.line, field, field)
		}
		return r.Literal, nil
	case r.Env != "":
		v := getenv(r.Env)
		if v == "" {
			return "", fmt.Errorf("%s: {env: %s}: the variable is not set or empty", field, r.Env)
		}
		return v, nil
	case r.File != "":
		b, err := readSecretFile(absIn(dir, r.File))
		if err != nil {
			// The error names the file, never its content.
			return "", fmt.Errorf("%s: {file: %s}: cannot read the secret file: %w", field, r.File, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%s: {file: %s}: the file is empty", field, r.File)
		}
		return v, nil
	}
	return "", nil
}

// absIn is path, relative to dir unless absolute.
func absIn(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// loadFile reads the sources of the configuration file at path.
func loadFile(path string, getenv func(string) string) ([]Source, error) {
	var errs []error
	for _, v := range perSourceVariables() {
		if getenv(v) != "" {
			errs = append(errs, fmt.Errorf("%s is set, and so is %s=%s: with a configuration file, set the sources' "+
				"settings in the file and unset %s", v, EnvConfigFile, path, v))
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.Join(append(errs, fmt.Errorf("%s=%s: %w", EnvConfigFile, path, err))...)
	}
	fc, spans, err := parseFile(data, path)
	if err != nil {
		return nil, errors.Join(append(errs, err)...)
	}
	if len(fc.Sources) == 0 {
		errs = append(errs, fmt.Errorf("%s=%s: no source: list them under \"sources:\"", EnvConfigFile, path))
	}
	dir := filepath.Dir(path)
	sources := make([]Source, 0, len(fc.Sources))
	for i, fs := range fc.Sources {
		line := 0
		if i < len(spans) {
			line = spans[i].line
		}
		s := fs.src
		s.file, s.line = true, line
		var serrs []error
		for _, st := range settings {
			switch {
			case st.Key != "" && st.Secret:
				// Identifiers (literal allowed) are trimmed; secrets are taken as they are.
				ref := fs.refs[st.Key]
				v, err := ref.resolve(st.Key, st.fileLiteral, dir, getenv)
				if err != nil {
					serrs = append(serrs, err)
				} else if ref.File != "" {
					s.secretFiles = append(s.secretFiles, [2]string{st.Key + ": {file: " + ref.File + "}", absIn(dir, ref.File)})
				}
				if st.fileLiteral {
					v = strings.TrimSpace(v)
				}
				*st.source(&s).(*string) = v
			case st.inDefaults:
				if v := reflect.ValueOf(st.source(&s)).Elem(); v.IsZero() {
					v.Set(reflect.ValueOf(st.source(&fc.Defaults.src)).Elem())
				}
			}
		}
		name := cmp.Or(s.Name, s.ProjectID, fmt.Sprintf("(unnamed, line %d)", s.line))
		for _, err := range serrs {
			errs = append(errs, fmt.Errorf("source %s: %w", name, err))
		}
		sources = append(sources, s)
	}
	return sources, errors.Join(errs...)
}

// parseFile decodes the file strictly (unknown keys are errors), finds where
// each source starts, and names the source each error is in:
// "source NAME: PATH:LINE: unknown key "x"".
func parseFile(data []byte, path string) (*fileConfig, []span, error) {
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(&fc)
	if errors.Is(err, io.EOF) {
		return &fc, nil, nil // an empty file: "no source" is reported by the caller
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 && doc.Content[0].Kind != yaml.MappingNode {
		root := doc.Content[0]
		return nil, nil, fmt.Errorf("%s:%d: the file must be a mapping with a sources: list (see docs/configuration.md, Many sources, or the sample indexer.yaml), not %s",
			path, root.Line, kindName(root))
	}
	spans := sourceSpans(&doc)
	if err == nil {
		return &fc, spans, nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		// A syntax error. yaml names the line where the enclosing block starts, often the line before
		// the mistake: name the first line at which the file stops being valid YAML instead.
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if n := syntaxErrorLine(data); n > 0 {
			msg = fmt.Sprintf("line %d: %s", n, lineRE.ReplaceAllString(msg, ""))
		}
		return nil, nil, fmt.Errorf("%s=%s: %s", EnvConfigFile, path, msg)
	}
	errs := make([]error, 0, len(te.Errors))
	for _, msg := range te.Errors {
		errs = append(errs, errors.New(explainTypeError(msg, spans, path)))
	}
	return nil, nil, errors.Join(errs...)
}

// span is the lines of one source of the list, and its name.
type span struct {
	line, end int // end: last line, or 0 when the source runs to the end of the file
	name      string
}

func sourceSpans(doc *yaml.Node) []span {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	root := doc.Content[0]
	var spans []span
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "sources" || root.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		end := 0 // the line before the key that follows the list, if any
		if i+2 < len(root.Content) {
			end = root.Content[i+2].Line - 1
		}
		items := root.Content[i+1].Content
		for k, item := range items {
			sp := span{line: item.Line, end: end}
			if k+1 < len(items) {
				sp.end = items[k+1].Line - 1
			}
			if item.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(item.Content); j += 2 {
					if item.Content[j].Value == "name" || (sp.name == "" && item.Content[j].Value == "project_id") {
						sp.name = item.Content[j+1].Value
					}
				}
			}
			spans = append(spans, sp)
		}
	}
	return spans
}

var (
	lineRE    = regexp.MustCompile(`^line (\d+): `)
	unknownRE = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
)

// explainTypeError rewrites one of yaml's messages, "line N: field x not found
// in type T", as "source NAME: PATH:N: unknown key "x"".
func explainTypeError(msg string, spans []span, path string) string {
	if m := unknownRE.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("line %s: unknown key %q", m[1], m[2])
	}
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return path + ": " + msg
	}
	line, _ := strconv.Atoi(m[1])
	msg = fmt.Sprintf("%s:%d: %s", path, line, msg[len(m[0]):])
	for i := len(spans) - 1; i >= 0; i-- {
		if line >= spans[i].line && (spans[i].end == 0 || line <= spans[i].end) {
			name := cmp.Or(spans[i].name, fmt.Sprintf("(unnamed, line %d)", spans[i].line))
			return "source " + name + ": " + msg
		}
	}
	return msg
}

// syntaxErrorLine is the first line of data at which it stops being valid YAML: the first k such
// that its first k lines do not parse for a reason other than ending too early (0: none found).
func syntaxErrorLine(data []byte) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	for k := 1; k <= len(lines); k++ {
		var n yaml.Node
		err := yaml.Unmarshal(bytes.Join(lines[:k], nil), &n)
		if err != nil && !strings.Contains(err.Error(), "end of stream") {
			return k
		}
	}
	return 0
}

// kindName says what a YAML node is, for messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("a single value (%q)", clipValue(n.Value))
	case yaml.AliasNode:
		return "an alias"
	}
	return "that"
}

func clipValue(v string) string {
	if len(v) > 40 {
		return v[:40] + "..."
	}
	return v
}
