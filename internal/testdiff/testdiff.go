// Package testdiff is a test helper: it names the fields in which two structs differ, so that a
// failing whole-struct comparison says which field is wrong.
package testdiff

import (
	"fmt"
	"reflect"
	"strings"
)

// Fields names the fields in which two values of one struct type differ, with both values, one
// field a line; it is empty when they are deeply equal. Values that are not structs of exported
// fields are compared whole.
func Fields(got, want any) string {
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	if g.Type() != w.Type() || g.Kind() != reflect.Struct || !exportedOnly(g.Type()) {
		if reflect.DeepEqual(got, want) {
			return ""
		}
		return fmt.Sprintf("got %+v, want %+v", got, want)
	}
	var b strings.Builder
	for i := range g.NumField() {
		if gf, wf := g.Field(i), w.Field(i); !reflect.DeepEqual(gf.Interface(), wf.Interface()) {
			fmt.Fprintf(&b, "\n%s: got %+v, want %+v", g.Type().Field(i).Name, gf.Interface(), wf.Interface())
		}
	}
	return b.String()
}

func exportedOnly(t reflect.Type) bool {
	for i := range t.NumField() {
		if !t.Field(i).IsExported() {
			return false
		}
	}
	return true
}
