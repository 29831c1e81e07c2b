package policies

import (
	"fmt"
	"math"
	"math/big"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Attribute evaluation. Each helper evaluates one attribute with the
// evaluation context of the file it is written in and reports problems into
// the decoder. When a function call fails, HCL reports it and returns an
// unknown value; the helpers stop there, so the failure is reported once
// (no cascaded "Unsuitable value type" diagnostic).

type evalStatus uint8

const (
	evalOK     evalStatus = iota
	evalNull              // the value is null: the caller treats it as absent
	evalFailed            // a problem was reported
)

// value evaluates expr and converts it to want.
func (d *decoder) value(expr hcl.Expression, what string, want cty.Type) (cty.Value, evalStatus) {
	v, diags := expr.Value(d.evalContext(expr.Range().Filename))
	for _, diag := range diags {
		if diag.Summary == "Call to unknown function" {
			diag.Detail += ` pgduet defines two functions: env("NAME") and file("path").`
		}
	}
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return cty.NilVal, evalFailed
	}
	if v.IsNull() {
		return cty.NilVal, evalNull
	}
	v, _ = v.UnmarkDeep()
	if !v.IsWhollyKnown() {
		d.diags = append(d.diags, errorAt(expr.Range(), "Invalid value", "The value of %s cannot be determined.", what))
		return cty.NilVal, evalFailed
	}
	cv, err := convert.Convert(v, want)
	if err != nil {
		d.diags = append(d.diags, errorAt(expr.Range(), "Incorrect attribute value type",
			"Inappropriate value for %s: %s.", what, err.Error()))
		return cty.NilVal, evalFailed
	}
	if cv.IsNull() {
		return cty.NilVal, evalNull
	}
	if !cv.IsWhollyKnown() {
		return cty.NilVal, evalFailed
	}
	return cv, evalOK
}

// str evaluates the string attribute name. attr is nil when the attribute is
// absent or null; ok is true only for a usable value.
func (d *decoder) str(attrs hcl.Attributes, name string) (s string, attr *hcl.Attribute, ok bool) {
	attr = attrs[name]
	if attr == nil {
		return "", nil, false
	}
	v, st := d.value(attr.Expr, fmt.Sprintf("attribute %q", name), cty.String)
	switch st {
	case evalNull:
		return "", nil, false
	case evalFailed:
		return "", attr, false
	}
	return v.AsString(), attr, true
}

// boolean evaluates the bool attribute name (absent or null: attr nil).
func (d *decoder) boolean(attrs hcl.Attributes, name string) (b bool, attr *hcl.Attribute, ok bool) {
	attr = attrs[name]
	if attr == nil {
		return false, nil, false
	}
	v, st := d.value(attr.Expr, fmt.Sprintf("attribute %q", name), cty.Bool)
	switch st {
	case evalNull:
		return false, nil, false
	case evalFailed:
		return false, attr, false
	}
	return v.True(), attr, true
}

// number evaluates the number attribute name (absent or null: attr nil).
// A string that reads as a number is accepted, as HCL converts it.
func (d *decoder) number(attrs hcl.Attributes, name string) (n *big.Float, attr *hcl.Attribute, ok bool) {
	attr = attrs[name]
	if attr == nil {
		return nil, nil, false
	}
	v, st := d.value(attr.Expr, fmt.Sprintf("attribute %q", name), cty.Number)
	switch st {
	case evalNull:
		return nil, nil, false
	case evalFailed:
		return nil, attr, false
	}
	return v.AsBigFloat(), attr, true
}

// numberText renders a number for a detail: plain decimals for ordinary
// magnitudes, exponent notation beyond.
func numberText(n *big.Float) string {
	if n.IsInf() {
		return n.String()
	}
	f, _ := n.Float64()
	if math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// listElem is one string of a list attribute, with its own source range when
// the list is written literally.
type listElem struct {
	s   string
	rng hcl.Range
}

// strList evaluates the list-of-strings attribute name (absent or null: attr nil).
func (d *decoder) strList(attrs hcl.Attributes, name string) (elems []listElem, attr *hcl.Attribute, ok bool) {
	attr = attrs[name]
	if attr == nil {
		return nil, nil, false
	}
	what := fmt.Sprintf("attribute %q", name)
	if exprs, diags := hcl.ExprList(attr.Expr); !diags.HasErrors() {
		ok = true
		elems = []listElem{}
		for i, e := range exprs {
			ew := fmt.Sprintf("element %d of %s", i+1, what)
			v, st := d.value(e, ew, cty.String)
			switch st {
			case evalNull:
				d.diags = append(d.diags, errorAt(e.Range(), "Invalid value", "%s is null; a string is required.", capitalize(ew)))
				ok = false
			case evalFailed:
				ok = false
			default:
				elems = append(elems, listElem{s: v.AsString(), rng: e.Range()})
			}
		}
		return elems, attr, ok
	}
	v, st := d.value(attr.Expr, what, cty.List(cty.String))
	switch st {
	case evalNull:
		return nil, nil, false
	case evalFailed:
		return nil, attr, false
	}
	elems = []listElem{}
	for it := v.ElementIterator(); it.Next(); {
		_, ev := it.Element()
		if ev.IsNull() {
			d.diags = append(d.diags, errorAt(attr.Expr.Range(), "Invalid value", "The list %s holds a null; strings are required.", what))
			return nil, attr, false
		}
		elems = append(elems, listElem{s: ev.AsString(), rng: attr.Expr.Range()})
	}
	return elems, attr, true
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// callsFunction reports whether expr calls a function (env, file): a value
// written without one is written in the file itself.
func callsFunction(expr hcl.Expression) bool {
	node, ok := expr.(hclsyntax.Node)
	if !ok {
		return true // not native syntax: give it the benefit of the doubt
	}
	found := false
	hclsyntax.VisitAll(node, func(n hclsyntax.Node) hcl.Diagnostics {
		if _, ok := n.(*hclsyntax.FunctionCallExpr); ok {
			found = true
		}
		return nil
	})
	return found
}

var dayPrefix = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)d(.*)$`)

const durationHelp = `use a number with a unit, such as "90s", "10m", "12h", "2d" or "1h30m" (units: ns, us, ms, s, m, h, d)`

// parseDuration accepts Go duration syntax plus a leading day count ("2d",
// "1d12h", "1.5d"; a day is 24 hours).
func parseDuration(s string) (time.Duration, error) {
	body, neg := s, false
	if rest, ok := strings.CutPrefix(body, "-"); ok {
		body, neg = rest, true
	} else if rest, ok := strings.CutPrefix(body, "+"); ok {
		body = rest
	}
	bad := fmt.Errorf("%q is not a duration: %s", s, durationHelp)
	var total time.Duration
	if m := dayPrefix.FindStringSubmatch(body); m != nil {
		days, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, bad
		}
		h := days * 24 * float64(time.Hour)
		if h >= math.MaxInt64 {
			return 0, fmt.Errorf("%q is too long a duration", s)
		}
		total = time.Duration(h)
		body = m[2]
		if body == "" {
			if neg {
				total = -total
			}
			return total, nil
		}
	}
	if body == "" || body[0] == '-' || body[0] == '+' {
		return 0, bad
	}
	rest, err := time.ParseDuration(body)
	if err != nil {
		return 0, bad
	}
	if total > math.MaxInt64-rest {
		return 0, fmt.Errorf("%q is too long a duration", s)
	}
	total += rest
	if neg {
		total = -total
	}
	return total, nil
}

// checkHostPort validates a host:port address. needHost: the host part may
// not be empty (an address to dial). zeroPort: port 0 (pick a free port) is allowed.
func checkHostPort(s string, needHost, zeroPort bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not a host:port address; write it like \"agent-east.internal:7420\", \"0.0.0.0:7420\" or \"[::1]:7420\"", s)
	}
	if needHost && host == "" {
		return fmt.Errorf("%q has no host; the peer needs a host name or IP address to dial", s)
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("%q has an invalid host %q", s, host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || port != strconv.Itoa(n) {
		return fmt.Errorf("%q has an invalid port %q; the port must be a number from 1 to 65535", s, port)
	}
	if n == 0 && !zeroPort {
		return fmt.Errorf("%q has port 0; the port must be a number from 1 to 65535", s)
	}
	return nil
}

// enumHelp renders the valid values of an enum for a detail.
func enumHelp(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = strconv.Quote(v)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func contains(vals []string, s string) bool {
	for _, v := range vals {
		if v == s {
			return true
		}
	}
	return false
}
