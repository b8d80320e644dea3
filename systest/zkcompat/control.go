package zkcompat

import (
	"net"
	"net/http"
	"testing"
)

// Control serves the target's Kill and Restart over HTTP on 127.0.0.1,
// for checks that run in another process (kazoo's failover test):
// POST /kill?server=ADDR and POST /restart?server=ADDR, ADDR being one
// of the target's Servers. It returns the base URL (http://127.0.0.1:P),
// which those checks take from ZK_CONTROL; it stops when the test ends.
func Control(t testing.TB, tg Target) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	handle := func(op func(string) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				http.Error(w, "POST only", http.StatusMethodNotAllowed)
				return
			}
			server := r.URL.Query().Get("server")
			t.Logf("control: %s %s", r.URL.Path, server)
			if err := op(server); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		}
	}
	mux.Handle("/kill", handle(tg.Kill))
	mux.Handle("/restart", handle(tg.Restart))
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + l.Addr().String()
}
