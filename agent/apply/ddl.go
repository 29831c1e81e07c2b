package apply

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgduet/pgduet/agent/change"
	"github.com/pgduet/pgduet/ddlparse"
)

// DDL event kinds (SPEC §7), recorded in pgduet.conflicts and counted in
// Stats.Conflicts (stops) or Stats.DDLSkipped (skips).
const (
	KindDDLFailed      = "ddl_failed"      // the replayed statement failed on this node
	KindDDLUnsupported = "ddl_unsupported" // the DDL cannot be replayed faithfully (see ddlparse)
	KindDDLDenied      = "ddl_denied"      // ddl.deny (or not ddl.allow) matches its command tag: skipped
	KindDDLUnselected  = "ddl_unselected"  // it touches only objects the config does not select: skipped
)

// DDLRules decide what becomes of DDL arriving from the peer (the DDL source):
// which statements are replayed, under which names, and what happens to those
// that cannot be. A nil *DDLRules in Config makes queue rows an error: the
// peer should not send DDL then.
type DDLRules struct {
	// Mapping renames the source's objects to this node's names.
	Mapping ddlparse.Mapping
	// Allowed reports whether a command tag passes ddl.allow and ddl.deny,
	// and which rule decided.
	Allowed func(tag string) (ok bool, rule string)
	// Selected reports whether an object the statement creates, changes or
	// drops is selected, in the source's names. relation is set for tables
	// and the objects that belong to one (name is the table then);
	// otherwise name is the object's own name and schema may be "" for
	// objects outside schemas. A statement is replayed when any of its
	// objects is selected.
	Selected func(schema, name string, relation bool) bool
	// Stop says how ddl_unsupported and ddl_failed events end: true (policy
	// fail) stops the direction until a DBA handles them; false skips and
	// records them.
	Stop bool
	// Policy is the policy's name, recorded with each event.
	Policy string
	// Renamed reports whether a table (the source's names) has columns the
	// peer calls differently (column blocks): DDL on it is ddl_unsupported,
	// since ddlparse maps schema and table names, not column names. nil: none.
	Renamed func(schema, name string) bool
	// SyncLWW: some table uses last_write_wins. After each replayed
	// statement, in the same transaction, the tombstone triggers are put on
	// the tables it created or changed (pgduet.lww_sync_all): the event
	// triggers that do it for local DDL do not fire in the apply session.
	SyncLWW bool
}

// queueRow is one pgduet.ddl_queue row as it arrived from the peer.
type queueRow struct {
	idx                                       int // its change in the transaction
	event, tag, objType, schema, identity     string
	query, searchPath, role, stmtTime, detail string
	command, pid                              int
	txid                                      int64
}

func decodeQueueRow(ch *change.Change, idx int) (queueRow, error) {
	r := queueRow{idx: idx}
	for i, c := range ch.Rel.Columns {
		if i >= len(ch.New) {
			break
		}
		v := string(ch.New[i].Data)
		var err error
		switch c.Name {
		case "event":
			r.event = v
		case "tag":
			r.tag = v
		case "object_type":
			r.objType = v
		case "schema_name":
			r.schema = v
		case "identity":
			r.identity = v
		case "query":
			r.query = v
		case "search_path":
			r.searchPath = v
		case "role_name":
			r.role = v
		case "stmt_time":
			r.stmtTime = v
		case "detail":
			r.detail = v
		case "command":
			r.command, err = strconv.Atoi(v)
		case "backend_pid":
			r.pid, err = strconv.Atoi(v)
		case "txid":
			r.txid, err = strconv.ParseInt(v, 10, 64)
		}
		if err != nil {
			return r, fmt.Errorf("DDL queue row: column %s: %w", c.Name, err)
		}
	}
	if r.event == "" || r.tag == "" {
		return r, errors.New("DDL queue row without event or tag: the peer runs an incompatible pgduet")
	}
	return r, nil
}

// ddlAction is one decision about captured DDL, placed in the transaction.
type ddlAction struct {
	at     int    // the change before which it happens
	seq    int    // the change index of its first queue row: names the event in conflicts
	kind   string // "" replays sql; else a KindDDL* event
	sql    string // the statement to replay (mapped, deparsed)
	source string // the statement as the source ran it (or the whole query)
	tag    string
	path   string // this node's search_path for the replay
	role   string
	detail string // why it is not replayed
}

// ddlPlan is what a transaction's queue rows ask for.
type ddlPlan struct {
	queue    map[int]bool        // changes not applied as rows: queue rows, and changes a DBA skipped
	actions  map[int][]ddlAction // by the change they precede (len(Changes): at the end)
	dbaSkips []dbaSkip
}

// dbaSkip is a row change left out because a DBA ran pgduet.skip on the
// conflict it stopped on.
type dbaSkip struct {
	idx int
	id  int64
}

// planDDL reads the transaction's queue rows and decides, per captured
// statement, whether and where it is replayed. It returns nil when the
// transaction has no queue rows.
func (a *Applier) planDDL(tx *change.Tx) (*ddlPlan, error) {
	p, err := a.planQueue(tx)
	if err != nil {
		return nil, err
	}
	// Row changes a DBA asked to skip (pgduet.skip on a stopped conflict)
	// are left out like queue rows, and their log rows marked in the same
	// transaction.
	for i := 0; len(a.skips) > 0 && i < len(tx.Changes); i++ {
		sk, ok := a.skips[skipKey{tx.EndLSN, i}]
		if !ok || tx.Changes[i].Rel == nil || tx.Changes[i].Rel.Table == change.DDLQueue {
			continue
		}
		if sk.table != "" && sk.table != tx.Changes[i].Rel.Table.String() {
			return nil, fmt.Errorf("pgduet.skip(%d) names change %d of this transaction on table %s, but that change is now on table %s (the selection changed since it stopped?): nothing is skipped; check pgduet.conflicts row %d and mark it again",
				sk.id, i, sk.table, tx.Changes[i].Rel.Table, sk.id)
		}
		id := sk.id
		if p == nil {
			p = &ddlPlan{queue: map[int]bool{}, actions: map[int][]ddlAction{}}
		}
		p.queue[i] = true
		p.dbaSkips = append(p.dbaSkips, dbaSkip{idx: i, id: id})
	}
	return p, nil
}

// planQueue is planDDL for the queue rows.
func (a *Applier) planQueue(tx *change.Tx) (*ddlPlan, error) {
	var rows []queueRow
	for i := range tx.Changes {
		ch := &tx.Changes[i]
		if ch.Op != change.Insert || ch.Rel.Table != change.DDLQueue {
			continue
		}
		r, err := decodeQueueRow(ch, i)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	if a.cfg.DDL == nil {
		return nil, errors.New("the peer sent DDL but DDL replication is off on this node: both agents must run the same config")
	}
	p := &ddlPlan{queue: map[int]bool{}, actions: map[int][]ddlAction{}}
	add := func(act ddlAction) { p.actions[act.at] = append(p.actions[act.at], act) }

	// Group the rows by client query message, in order of first appearance.
	type group struct{ rows []queueRow }
	var order []string
	groups := map[string]*group{}
	for _, r := range rows {
		p.queue[r.idx] = true
		if r.event == "capture_error" {
			add(ddlAction{at: r.idx, seq: r.idx, kind: KindDDLUnsupported, source: r.query, tag: r.tag,
				detail: "the source's event trigger could not capture this command: " + r.detail})
			continue
		}
		key := fmt.Sprintf("%d/%d/%s/%s", r.txid, r.pid, r.stmtTime, r.query)
		g := groups[key]
		if g == nil {
			g = &group{}
			groups[key] = g
			order = append(order, key)
		}
		g.rows = append(g.rows, r)
	}
	for _, key := range order {
		a.planGroup(tx, groups[key].rows, add)
	}
	return p, nil
}

// planGroup decides about the statements of one query string.
func (a *Applier) planGroup(tx *change.Tx, rows []queueRow, add func(ddlAction)) {
	rules := a.cfg.DDL
	// table_rewrite rows are not the statements' own rows: they mark the
	// commands whose table rewrite computes new values on each node.
	var rewrites []queueRow
	kept := rows[:0:0]
	for _, r := range rows {
		if r.event == "table_rewrite" {
			rewrites = append(rewrites, r)
			continue
		}
		kept = append(kept, r)
	}
	rows = kept
	if len(rows) == 0 {
		return
	}
	first := rows[0]
	unsupported := func(at, seq int, source, tag string, err error) {
		add(ddlAction{at: at, seq: seq, kind: KindDDLUnsupported, source: source, tag: tag, detail: err.Error()})
	}
	stmts, err := ddlparse.Split(first.query)
	if err != nil {
		unsupported(first.idx, first.idx, first.query, first.tag, err)
		return
	}
	events := make([]ddlparse.Event, len(rows))
	for i, r := range rows {
		events[i] = ddlparse.Event{Event: r.event, Tag: r.tag, ObjectType: r.objType, Schema: r.schema, Identity: r.identity, Command: r.command}
	}
	replays, err := ddlparse.Match(stmts, events)
	if err != nil {
		unsupported(first.idx, first.idx, first.query, first.tag, err)
		return
	}
	for _, rp := range replays {
		row := rows[rp.At]
		st := rp.Statement
		act := ddlAction{at: row.idx, seq: row.idx, source: st.Text, tag: st.Tag, role: row.role,
			path: rules.Mapping.SearchPath(row.searchPath)}
		if why := unfaithful(rows, rp, rewrites, len(replays)); why != "" {
			unsupported(row.idx, row.idx, st.Text, st.Tag, errors.New(why))
			continue
		}
		if ok, rule := rules.Allowed(st.Tag); !ok {
			act.kind, act.detail = KindDDLDenied, fmt.Sprintf("command tag %s is refused by ddl rule %q", st.Tag, rule)
			add(act)
			continue
		}
		if !a.ddlSelected(st, rows, rp.Events, row.searchPath) {
			act.kind, act.detail = KindDDLUnselected, "it touches no object the config selects"
			add(act)
			continue
		}
		if t := a.renamedTable(st, rows, rp.Events, row.searchPath); t != "" {
			unsupported(row.idx, row.idx, st.Text, st.Tag, fmt.Errorf("table %s has columns with other names on node %s (column blocks), which DDL replay cannot map: run the change on both nodes by hand, with each node's column names", t, a.cfg.Node))
			continue
		}
		sql, err := ddlparse.Rewrite(st, rules.Mapping, ddlparse.Options{SearchPath: row.searchPath})
		if err != nil {
			unsupported(row.idx, row.idx, st.Text, st.Tag, err)
			continue
		}
		act.sql = sql
		if st.Tag == "CREATE TABLE AS" || st.Tag == "SELECT INTO" {
			act.at = rowsBefore(tx, a.createdTable(st, rows, rp.Events, row.searchPath), act.at)
		}
		add(act)
	}
}

// resolvedObjects returns the objects a statement creates, changes or drops,
// with unqualified ones placed in the schema the queue rows report (or the
// first schema of the search_path).
func resolvedObjects(st ddlparse.Statement, rows []queueRow, evs []int, searchPath string) []ddlparse.Object {
	fallback := ""
	for _, i := range evs {
		if s := rows[i].schema; s != "" && s != "pg_temp" {
			fallback = s
			break
		}
	}
	if fallback == "" {
		for _, s := range strings.Split(searchPath, ",") {
			s = strings.Trim(strings.TrimSpace(s), `"`)
			if s != "" && s != "$user" && s != "pg_catalog" && s != "pg_temp" {
				fallback = s
				break
			}
		}
	}
	var out []ddlparse.Object
	for _, o := range st.Objects {
		if o.Ref {
			continue
		}
		if o.Schema == "" && schemaBound(o.Type) {
			o.Schema = fallback
		}
		out = append(out, o)
	}
	return out
}

// schemaBound reports object types that live in a schema.
func schemaBound(typ string) bool {
	switch typ {
	case "schema", "extension", "role", "database", "tablespace", "language", "event trigger",
		"foreign data wrapper", "server", "user mapping", "publication", "subscription", "cast", "access method":
		return false
	}
	return true
}

// relationTypes are object types that are a table or belong to one: their
// selection is the table's.
var relationTypes = map[string]bool{
	"table": true, "column": true, "table column": true, "table constraint": true, "trigger": true,
	"rule": true, "policy": true, "foreign table": true, "relation": true,
}

// ddlSelected applies the selection to a statement (SPEC §6.4): replayed when
// any object it creates, changes or drops is selected. Objects outside
// schemas (extensions, casts, ...) always are; a schema is when the config
// selects it or a table in it.
func (a *Applier) ddlSelected(st ddlparse.Statement, rows []queueRow, evs []int, searchPath string) bool {
	objs := resolvedObjects(st, rows, evs, searchPath)
	if len(objs) == 0 {
		return true // nothing to decide on (e.g. ALTER DEFAULT PRIVILEGES): replay
	}
	sel := a.cfg.DDL.Selected
	for _, o := range objs {
		switch {
		case o.Type == "schema":
			if sel(o.Name, "", false) {
				return true
			}
		case !schemaBound(o.Type):
			return true
		case o.Schema == "pg_temp":
		case relationTypes[o.Type]:
			if sel(o.Schema, o.Name, true) {
				return true
			}
		default:
			if sel(o.Schema, "", false) {
				return true
			}
		}
	}
	return false
}

// renamedTable returns the first table the statement touches whose columns
// are renamed for this node, "" when none.
func (a *Applier) renamedTable(st ddlparse.Statement, rows []queueRow, evs []int, searchPath string) string {
	if a.cfg.DDL.Renamed == nil {
		return ""
	}
	for _, o := range resolvedObjects(st, rows, evs, searchPath) {
		if relationTypes[o.Type] && a.cfg.DDL.Renamed(o.Schema, o.Name) {
			return o.Schema + "." + o.Name
		}
	}
	return ""
}

// createdTable is this node's name of the table a CREATE TABLE AS or SELECT
// INTO creates.
func (a *Applier) createdTable(st ddlparse.Statement, rows []queueRow, evs []int, searchPath string) change.TableRef {
	for _, o := range resolvedObjects(st, rows, evs, searchPath) {
		if o.Type == "table" {
			q := a.cfg.DDL.Mapping.Relation(ddlparse.QName{Schema: o.Schema, Name: o.Name})
			return change.TableRef{Schema: q.Schema, Name: q.Name}
		}
	}
	return change.TableRef{}
}

// rowsBefore returns where the run of inserts into t that ends just before at
// starts (at when there is none). CREATE TABLE AS and SELECT INTO write their
// rows right before their event trigger fires, so the table must be created
// before the first of those rows, and after everything before them (an
// earlier statement may have renamed an older table of that name away).
func rowsBefore(tx *change.Tx, t change.TableRef, at int) int {
	if t.Name == "" {
		return at
	}
	i := at
	for i > 0 {
		ch := &tx.Changes[i-1]
		if ch.Op != change.Insert || ch.Rel == nil || ch.Rel.Table != t {
			break
		}
		i--
	}
	return i
}

// unfaithful says why replaying a matched statement would not give the
// peer what the source has, or "".
//
//   - A statement that also touched temporary objects (DROP TABLE a, b where
//     b is temporary): its text names the temporary object too, which on the
//     peer is nothing, or worse, a permanent table of that name.
//   - A command that rewrote a table to compute a volatile default (ADD
//     COLUMN ... DEFAULT random(), a serial column): the rewritten rows are
//     not decoded, so the peer would compute values of its own.
func unfaithful(rows []queueRow, rp ddlparse.Replay, rewrites []queueRow, replays int) string {
	cmd := rows[rp.At].command
	for _, r := range rows {
		ev := ddlparse.Event{Schema: r.schema, Identity: r.identity}
		if !ev.Temporary() || r.tag != rows[rp.At].tag || rp.Statement.IsTemporary() {
			continue
		}
		if cmd != 0 && r.command == cmd || cmd == 0 {
			return fmt.Sprintf("%s touched temporary object %s too: replaying its text could reach a permanent object of that name on the peer; run the statement separately for the temporary and the permanent objects", r.tag, r.identity)
		}
	}
	if rp.Statement.AddsOnlyComputedColumns() {
		return "" // a generated column's rewrite computes the same values on both nodes
	}
	for _, r := range rewrites {
		if cmd != 0 && r.command == cmd || cmd == 0 && replays == 1 {
			return fmt.Sprintf("%s rewrote table %s to compute a volatile default (%s): the rewritten rows are not replicated, so each node would compute its own values; add the column without a volatile default, then fill it with UPDATE (which replicates)", r.tag, r.identity, r.detail)
		}
	}
	return ""
}

// DDLError is replayed DDL that failed on this node (ddl_failed). It is not
// a conflict: the supervisor retries it within retry.other, since a DBA may
// fix its cause (a missing role, a lock) meanwhile.
type DDLError struct {
	Statement string // as replayed
	Source    string // as the source ran it
	EndLSN    change.LSN
	Seq       int
	Node      string // where it failed
	err       error
}

func (e *DDLError) Error() string {
	return fmt.Sprintf("ddl_failed: replaying %q on node %s: %v (retried within retry.other; fix the cause on node %s, or apply the statement there by hand, SELECT pgduet.skip(id) from pgduet.conflicts and restart its agent)",
		e.Statement, e.Node, e.err, e.Node)
}

func (e *DDLError) Unwrap() error { return e.err }

// runDDL carries out one action inside the open apply transaction. It returns
// the transaction's failure, if the action fails it.
func (a *Applier) runDDL(ctx context.Context, tx *change.Tx, act ddlAction) error {
	rules := a.cfg.DDL
	if act.kind == "" {
		if sk, ok := a.skips[skipKey{tx.EndLSN, act.seq}]; ok {
			return a.skipByDBA(ctx, tx, act, KindDDLFailed, sk.id)
		}
		if err := a.checkRole(ctx, tx, act); err != nil {
			return err
		}
		sql := replaySQL(act)
		if rules.SyncLWW {
			sql += ";\nSELECT count(*) FROM pgduet.lww_sync_all()"
		}
		if !rules.Stop {
			// A policy other than fail skips a failing statement: it runs in a
			// savepoint so the transaction survives it.
			sql = "SAVEPOINT pgduet_ddl;\n" + sql + ";\nRELEASE SAVEPOINT pgduet_ddl"
		}
		a.roundTrip()
		_, err := a.conn.PgConn().Exec(ctx, sql).ReadAll()
		if err != nil {
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				a.breakConn()
				return fmt.Errorf("replay DDL: %w (%w)", err, errConnLost)
			}
			if !rules.Stop {
				a.roundTrip()
				if _, rerr := a.conn.PgConn().Exec(ctx, "ROLLBACK TO SAVEPOINT pgduet_ddl").ReadAll(); rerr != nil {
					return fmt.Errorf("roll back the failed DDL: %w", rerr)
				}
				a.markAllStale()
				act.detail = err.Error()
				a.countSkip(KindDDLFailed)
				a.log.Warn("DDL failed and was skipped (policy "+rules.Policy+")", "statement", act.sql, "err", err, "lsn", tx.EndLSN)
				return a.record(ctx, tx, act, KindDDLFailed, ResolutionSkipped)
			}
			return &DDLError{Statement: act.sql, Source: act.source, EndLSN: tx.EndLSN, Seq: act.seq, Node: a.cfg.Node, err: err}
		}
		a.markAllStale()
		a.statsMu.Lock()
		a.stats.DDLApplied++
		a.statsMu.Unlock()
		a.log.Info("DDL replayed", "tag", act.tag, "statement", act.sql, "role", act.role, "search_path", act.path, "lsn", tx.EndLSN)
		return nil
	}
	switch act.kind {
	case KindDDLUnselected:
		a.countSkip(act.kind)
		a.log.Info("DDL not replayed: "+act.detail, "tag", act.tag, "statement", act.source, "lsn", tx.EndLSN)
		return nil
	case KindDDLDenied:
		a.countSkip(act.kind)
		a.log.Warn("DDL not replayed: "+act.detail, "kind", act.kind, "statement", act.source, "lsn", tx.EndLSN)
		return a.record(ctx, tx, act, act.kind, ResolutionSkipped)
	}
	// ddl_unsupported
	if sk, ok := a.skips[skipKey{tx.EndLSN, act.seq}]; ok {
		return a.skipByDBA(ctx, tx, act, act.kind, sk.id)
	}
	if rules.Stop {
		return &ConflictError{Kind: act.kind, Statement: act.source, EndLSN: tx.EndLSN, Xid: tx.Xid, seq: act.seq,
			Detail: fmt.Sprintf("%s (handle it on node %s, e.g. apply an equivalent statement there by hand in a session with session_replication_role = replica, then SELECT pgduet.skip(id) from pgduet.conflicts and restart its agent)", act.detail, a.cfg.Node)}
	}
	a.countSkip(act.kind)
	a.log.Warn("DDL not replayed (policy "+rules.Policy+"): "+act.detail, "kind", act.kind, "statement", act.source, "lsn", tx.EndLSN)
	return a.record(ctx, tx, act, act.kind, ResolutionSkipped)
}

// checkRole makes sure the role that ran the DDL on the source exists here.
// Replaying as pgduet's own (superuser) role instead would hand what the
// statement creates (a SECURITY DEFINER function, say) to a superuser.
func (a *Applier) checkRole(ctx context.Context, tx *change.Tx, act ddlAction) error {
	if act.role == "" || a.roles[act.role] {
		return nil
	}
	var ok bool
	a.roundTrip()
	if err := a.conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)", act.role).Scan(&ok); err != nil {
		return fmt.Errorf("look up role %q: %w", act.role, err)
	}
	if !ok {
		return &DDLError{Statement: act.sql, Source: act.source, EndLSN: tx.EndLSN, Seq: act.seq, Node: a.cfg.Node,
			err: fmt.Errorf("role %q, which ran this DDL on node %s, does not exist on node %s: create it there (roles are not replicated); the retry then replays the statement as that role",
				act.role, a.cfg.Peer, a.cfg.Node)}
	}
	if a.roles == nil {
		a.roles = map[string]bool{}
	}
	a.roles[act.role] = true
	return nil
}

// skipByDBA skips an event a DBA marked with pgduet.skip(id).
func (a *Applier) skipByDBA(ctx context.Context, tx *change.Tx, act ddlAction, kind string, id int64) error {
	a.countSkip(kind)
	a.log.Warn("DDL skipped as the DBA asked (pgduet.skip)", "id", id, "statement", act.source, "lsn", tx.EndLSN)
	a.roundTrip()
	_, err := a.conn.Exec(ctx, `UPDATE pgduet.conflicts SET resolution = 'skipped_by_dba', resolved_at = pg_catalog.clock_timestamp() WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("mark pgduet.conflicts row %d skipped: %w", id, err)
	}
	return nil
}

func (a *Applier) countSkip(kind string) {
	a.statsMu.Lock()
	a.stats.DDLSkipped[kind]++
	a.stats.Outcomes[kind+"/"+ResolutionSkipped]++
	a.statsMu.Unlock()
}

// record writes a DDL event to pgduet.conflicts inside the apply transaction.
func (a *Applier) record(ctx context.Context, tx *change.Tx, act ddlAction, kind, resolution string) error {
	stmt := act.source
	if act.sql != "" {
		stmt = act.sql
	}
	a.roundTrip()
	_, err := a.conn.Exec(ctx, insertConflictPlainSQL, a.cfg.Pair, a.cfg.Peer, kind, a.policyName(), resolution,
		nil, stmt, act.detail, nil, nil, tx.EndLSN.String(), int64(tx.Xid), act.seq)
	if err != nil {
		return fmt.Errorf("record %s in pgduet.conflicts: %w", kind, err)
	}
	return nil
}

func (a *Applier) policyName() string {
	if a.cfg.DDL != nil && a.cfg.DDL.Policy != "" {
		return a.cfg.DDL.Policy
	}
	return string(policyFail)
}

// skipKey names an event: its source transaction and position.
type skipKey struct {
	lsn change.LSN
	seq int
}

// skipRequest is a DBA's pgduet.skip(id): the row id, and for a row change
// the table it was on, checked before anything is skipped.
type skipRequest struct {
	id    int64
	table string
}

// loadSkips reads the events a DBA asked to skip (pgduet.skip), and the
// source transactions that stopped the direction before (see resolveStops).
func (a *Applier) loadSkips(ctx context.Context) error {
	a.skips = map[skipKey]skipRequest{}
	a.stopped = map[change.LSN]bool{}
	var installed bool
	a.roundTrip()
	if err := a.conn.QueryRow(ctx, "SELECT to_regclass('pgduet.conflicts') IS NOT NULL").Scan(&installed); err != nil || !installed {
		return err // without pgduet's schema (the package's own tests) there is nothing to skip
	}
	a.roundTrip()
	rows, err := a.conn.Query(ctx, `SELECT id, source_lsn::text, source_seq, coalesce(table_name, ''), resolution FROM pgduet.conflicts
		WHERE pair = $1 AND origin_node = $2 AND resolution IN ('skip_requested', 'stopped')`, a.cfg.Pair, a.cfg.Peer)
	if err != nil {
		return fmt.Errorf("read skip requests from pgduet.conflicts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var lsn, table, resolution string
		var seq int
		if err := rows.Scan(&id, &lsn, &seq, &table, &resolution); err != nil {
			return err
		}
		l, err := pglogrepl.ParseLSN(lsn)
		if err != nil {
			return err
		}
		if resolution == "stopped" {
			a.stopped[l] = true
			continue
		}
		a.skips[skipKey{l, seq}] = skipRequest{id: id, table: table}
	}
	return rows.Err()
}

// replaySQL is the simple-protocol string that replays one statement inside
// the apply transaction: with the source's search_path (mapped) and the
// source's role (checkRole made sure it exists); both are put back afterwards.
func replaySQL(act ddlAction) string {
	var b strings.Builder
	b.WriteString("SELECT pg_catalog.set_config('search_path', ")
	b.WriteString(quoteLiteral(act.path))
	b.WriteString(", true);\n")
	if act.role != "" {
		b.WriteString("SELECT pg_catalog.set_config('role', ")
		b.WriteString(quoteLiteral(act.role))
		b.WriteString(", true);\n")
	}
	b.WriteString(act.sql)
	b.WriteString(";\nRESET ROLE;\nSELECT pg_catalog.set_config('search_path', '', true)")
	return b.String()
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings
// is on in the apply session).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// markAllStale makes the next catalog use read every table again: replayed
// DDL may have changed any of them.
func (a *Applier) markAllStale() {
	for _, t := range a.tables {
		t.stale = true
	}
}
