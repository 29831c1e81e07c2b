package ddlparse

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
)

// FilterColumns checks a row filter (a table block's `where`): one boolean
// SQL expression over the table's columns, the way a WHERE clause is written,
// and returns the columns it reads, sorted. It refuses what is not a single
// expression (a statement separator, a FROM, a second output column), a
// subquery (it would read other tables, whose state differs between the
// nodes), a qualified column reference (there is only the one table) and
// aggregate or window functions.
func FilterColumns(expr string) ([]string, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, fmt.Errorf("the row filter is empty")
	}
	query := "SELECT (" + expr + "\n)"
	tree, err := pg.ParseToJSON(query)
	if err != nil {
		return nil, fmt.Errorf("the row filter is not a valid SQL expression: %w", err)
	}
	var doc struct {
		Stmts []struct {
			Stmt map[string]json.RawMessage `json:"stmt"`
		} `json:"stmts"`
	}
	if err := json.Unmarshal([]byte(tree), &doc); err != nil {
		return nil, fmt.Errorf("the row filter's parse tree: %w", err)
	}
	if len(doc.Stmts) != 1 {
		return nil, fmt.Errorf("the row filter must be one expression, not several statements")
	}
	var sel struct {
		TargetList   []json.RawMessage `json:"targetList"`
		FromClause   []json.RawMessage `json:"fromClause"`
		WhereClause  json.RawMessage   `json:"whereClause"`
		GroupClause  json.RawMessage   `json:"groupClause"`
		HavingClause json.RawMessage   `json:"havingClause"`
		LimitOffset  json.RawMessage   `json:"limitOffset"`
		IntoClause   json.RawMessage   `json:"intoClause"`
		Locking      json.RawMessage   `json:"lockingClause"`
		SortClause   json.RawMessage   `json:"sortClause"`
		LimitCount   json.RawMessage   `json:"limitCount"`
		WindowClause json.RawMessage   `json:"windowClause"`
		Op           string            `json:"op"`
	}
	raw, ok := doc.Stmts[0].Stmt["SelectStmt"]
	if !ok || json.Unmarshal(raw, &sel) != nil || len(sel.TargetList) != 1 || sel.FromClause != nil || sel.WhereClause != nil ||
		sel.GroupClause != nil || sel.SortClause != nil || sel.LimitCount != nil || sel.WindowClause != nil ||
		sel.HavingClause != nil || sel.LimitOffset != nil || sel.IntoClause != nil || sel.Locking != nil ||
		sel.Op != "" && sel.Op != "SETOP_NONE" {
		return nil, fmt.Errorf("the row filter must be a single expression such as region = 'eu', not %q", expr)
	}
	cols := map[string]bool{}
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case map[string]any:
			for k, inner := range x {
				switch k {
				case "SubLink":
					return fmt.Errorf("the row filter may not hold a subquery: it would read other tables, which differ between the nodes")
				case "FuncCall":
					if f, ok := inner.(map[string]any); ok && (f["agg_star"] != nil || f["over"] != nil || f["agg_order"] != nil || f["agg_filter"] != nil) {
						return fmt.Errorf("the row filter may not use aggregate or window functions")
					}
				case "ParamRef":
					return fmt.Errorf("the row filter may not use parameters ($1)")
				case "ColumnRef":
					f, _ := inner.(map[string]any)
					fields, _ := f["fields"].([]any)
					if len(fields) != 1 {
						return fmt.Errorf("the row filter names a column with a qualifier (%s): name the table's columns alone", columnRefText(fields))
					}
					name := columnRefText(fields)
					if name == "*" {
						return fmt.Errorf("the row filter may not use *")
					}
					if systemColumns[name] {
						return fmt.Errorf("the row filter may not read system column %s: it differs between the nodes", name)
					}
					cols[name] = true
				}
				if err := walk(inner); err != nil {
					return err
				}
			}
		case []any:
			for _, inner := range x {
				if err := walk(inner); err != nil {
					return err
				}
			}
		}
		return nil
	}
	var target any
	if err := json.Unmarshal(sel.TargetList[0], &target); err != nil {
		return nil, fmt.Errorf("the row filter's parse tree: %w", err)
	}
	if err := walk(target); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(cols))
	for c := range cols {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// columnRefText prints a ColumnRef's fields (String nodes, or * for A_Star).
func columnRefText(fields []any) string {
	var parts []string
	for _, f := range fields {
		m, _ := f.(map[string]any)
		switch {
		case m["String"] != nil:
			s, _ := m["String"].(map[string]any)
			name, _ := s["sval"].(string)
			parts = append(parts, name)
		case m["A_Star"] != nil:
			parts = append(parts, "*")
		}
	}
	return strings.Join(parts, ".")
}

// systemColumns are PostgreSQL's hidden columns: their values are each
// node's own.
var systemColumns = map[string]bool{"xmin": true, "xmax": true, "cmin": true, "cmax": true, "ctid": true, "tableoid": true}
