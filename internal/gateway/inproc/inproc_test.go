package inproc

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTransport(t *testing.T) {
	t.Parallel()
	canceled := make(chan struct{})
	h := http.NewServeMux()
	h.HandleFunc("GET /plain", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Test", "yes")
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "short and stout")
	})
	h.HandleFunc("GET /stream", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; ; i++ {
			if _, err := io.WriteString(w, "data: tick\n"); err != nil {
				close(canceled)
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				close(canceled)
				return
			case <-time.After(time.Millisecond):
			}
		}
	})
	h.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	c := &http.Client{Transport: Transport{Handler: h}}

	resp, err := c.Get("http://upstream/plain")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTeapot || resp.Header.Get("X-Test") != "yes" || string(b) != "short and stout" {
		t.Errorf("GET /plain = %d %q %q, want 418 yes %q", resp.StatusCode, resp.Header.Get("X-Test"), b, "short and stout")
	}

	resp, err = c.Get("http://upstream/stream")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	for i := 0; i < 3; i++ {
		if !sc.Scan() || !strings.HasPrefix(sc.Text(), "data:") {
			t.Fatalf("stream line %d = %q, want data:", i, sc.Text())
		}
	}
	resp.Body.Close()
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("closing the body did not stop the streaming handler")
	}

	resp, err = c.Get("http://upstream/panic")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError || err == nil {
			t.Errorf("GET /panic = %d, err %v; want 500 and a body error", resp.StatusCode, err)
		}
	}
}
