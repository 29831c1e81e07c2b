package agent

import (
	"log/slog"
	"sync"

	"github.com/pgduet/pgduet/agent/change"
	"github.com/pgduet/pgduet/policies"
)

// selectionFilter decides on the sending side which changes leave this node:
// the table must be selected and the operation among its `operations`. A change
// it drops is a policy decision, never a silent loss: capture counts every drop,
// and the first drop per table and operation is logged.
type selectionFilter struct {
	cfg  *policies.Config
	node string // selection names are this node's
	log  *slog.Logger
	seen sync.Map // "schema.table/op" → struct{}
	// selected caches SelectedOn per table (change.TableRef → selection):
	// the config does not change while the agent runs, and matching the
	// globs for every change cost an allocation per change.
	selected sync.Map
}

type selection struct {
	ops []policies.Op
	ok  bool
}

func newSelectionFilter(cfg *policies.Config, node string, log *slog.Logger) *selectionFilter {
	return &selectionFilter{cfg: cfg, node: node, log: log}
}

func (f *selectionFilter) keep(t change.TableRef, op change.Op) bool {
	var sel selection
	if v, hit := f.selected.Load(t); hit {
		sel = v.(selection)
	} else {
		sel.ops, sel.ok = f.cfg.SelectedOn(f.node, t.Schema, t.Name)
		f.selected.Store(t, sel)
	}
	ops, ok := sel.ops, sel.ok
	if ok {
		for _, o := range ops {
			if string(o) == op.String() {
				return true
			}
		}
	}
	key := t.String() + "/" + op.String()
	if _, dup := f.seen.LoadOrStore(key, struct{}{}); !dup {
		reason := "the table is not selected"
		if ok {
			reason = "the table's operations do not include " + op.String()
		}
		f.log.Info("not replicating changes by policy", "table", t.String(), "op", op.String(), "reason", reason)
	}
	return false
}
