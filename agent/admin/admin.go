package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pgduet/pgduet/agent"
)

// Source is what the endpoint reads: the running agent.
type Source interface {
	Status() agent.Status
}

// Server is the admin HTTP server.
type Server struct {
	addr string
	src  Source
	log  *slog.Logger
	ln   net.Listener
}

// New prepares the server; Listen binds it and Serve runs it.
func New(addr string, src Source, log *slog.Logger) *Server {
	return &Server{addr: addr, src: src, log: log}
}

// Listen binds the address.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("admin endpoint %s: %w", s.addr, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address (after Listen).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Handler returns the endpoint's routes.
func (s *Server) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{src: s.src})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.src.Status())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		for _, d := range s.src.Status().Directions {
			if d.State == agent.StateFailed {
				http.Error(w, fmt.Sprintf("direction %s failed: %s", d.Direction, d.LastError), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// Serve runs until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// collector turns the agent's status into Prometheus metrics at scrape time.
type collector struct{ src Source }

var (
	labels     = []string{"pair", "node", "direction", "role"}
	descState  = prometheus.NewDesc("pgduet_direction_up", "1 when the direction is running, 0 when initializing, in the initial sync, retrying or failed.", append(labels, "state"), nil)
	descTx     = prometheus.NewDesc("pgduet_transactions_total", "Source transactions shipped and acknowledged (send) or applied (receive).", labels, nil)
	descChg    = prometheus.NewDesc("pgduet_changes_total", "Row changes in those transactions.", labels, nil)
	descLagB   = prometheus.NewDesc("pgduet_lag_bytes", "WAL bytes between the source's position and what the peer confirmed.", labels, nil)
	descLagS   = prometheus.NewDesc("pgduet_lag_seconds", "Age of the oldest change not yet confirmed by the peer.", labels, nil)
	descWAL    = prometheus.NewDesc("pgduet_retained_wal_bytes", "WAL the node's slot retains.", labels, nil)
	descSkip   = prometheus.NewDesc("pgduet_skipped_changes_total", "Changes not shipped by policy (selection, operations).", labels, nil)
	descDelMis = prometheus.NewDesc("pgduet_delete_missing_total", "DELETEs whose row did not exist on this node (skipped, SPEC §7).", labels, nil)
	descDDL    = prometheus.NewDesc("pgduet_ddl_applied_total", "DDL statements from the DDL source replayed on this node.", labels, nil)
	descDDLSk  = prometheus.NewDesc("pgduet_ddl_skipped_total", "DDL statements from the DDL source not replayed, by kind (ddl_denied, ddl_unselected, ...).", append(labels, "kind"), nil)
	descConfl  = prometheus.NewDesc("pgduet_conflicts_total", "Conflicts and DDL events recorded in pgduet.conflicts on this node, by kind and resolution.", append(labels, "kind", "resolution"), nil)
	descDDLIgn = prometheus.NewDesc("pgduet_ddl_ignored_total", "Captured DDL rows not shipped because this node is not the DDL source (ddl.reverse = ignore).", labels, nil)
	descSpill  = prometheus.NewDesc("pgduet_spilled_transactions_total", "Transactions too big for memory, held in a temporary file: captured (send) or applied (receive).", labels, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descTx, descChg, descLagB, descLagS, descWAL, descSkip, descDelMis, descDDL, descDDLSk, descDDLIgn, descConfl, descSpill} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Status()
	for _, d := range st.Directions {
		l := []string{st.Pair, st.Node, d.Direction, d.Role}
		up := 0.0
		if d.State == agent.StateRunning {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, up, append(l, string(d.State))...)
		ch <- prometheus.MustNewConstMetric(descTx, prometheus.CounterValue, float64(d.Transactions), l...)
		ch <- prometheus.MustNewConstMetric(descChg, prometheus.CounterValue, float64(d.Changes), l...)
		ch <- prometheus.MustNewConstMetric(descLagB, prometheus.GaugeValue, float64(d.LagBytes), l...)
		ch <- prometheus.MustNewConstMetric(descLagS, prometheus.GaugeValue, d.LagSeconds, l...)
		ch <- prometheus.MustNewConstMetric(descSpill, prometheus.CounterValue, float64(d.Spilled), l...)
		if d.Role == "send" {
			ch <- prometheus.MustNewConstMetric(descWAL, prometheus.GaugeValue, float64(d.RetainedWAL), l...)
			ch <- prometheus.MustNewConstMetric(descSkip, prometheus.CounterValue, float64(d.Skipped), l...)
			ch <- prometheus.MustNewConstMetric(descDDLIgn, prometheus.CounterValue, float64(d.DDLIgnored), l...)
		} else {
			ch <- prometheus.MustNewConstMetric(descDelMis, prometheus.CounterValue, float64(d.DeleteMissing), l...)
			ch <- prometheus.MustNewConstMetric(descDDL, prometheus.CounterValue, float64(d.DDLApplied), l...)
			for kind, n := range d.DDLSkipped {
				ch <- prometheus.MustNewConstMetric(descDDLSk, prometheus.CounterValue, float64(n), append(l, kind)...)
			}
			for k, n := range d.Conflicts {
				kind, res, _ := strings.Cut(k, "/")
				ch <- prometheus.MustNewConstMetric(descConfl, prometheus.CounterValue, float64(n), append(l, kind, res)...)
			}
		}
	}
}
