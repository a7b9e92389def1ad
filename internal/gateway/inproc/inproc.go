// Package inproc serves HTTP requests with an http.Handler in the same
// process, with no network: the gateway reaches its built-in demo upstreams
// ("builtin:demo" in fleet.yaml) through it. Responses stream: the client
// reads the body as the handler writes and flushes it, so server-sent
// events work as over a socket, and a client that stops reading cancels
// the handler's request context.
package inproc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
)

// Transport is an http.RoundTripper that serves every request with Handler.
type Transport struct{ Handler http.Handler }

// RoundTrip serves req with t.Handler and returns its response once the
// handler has written its header (or returned).
func (t Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	pr, pw := io.Pipe()
	w := &writer{header: http.Header{}, body: pw, ready: make(chan struct{})}
	r := req.Clone(ctx)
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.RequestURI = req.URL.RequestURI()
	if r.RemoteAddr == "" {
		r.RemoteAddr = "inproc"
	}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				w.writeHeaderOnce(http.StatusInternalServerError)
				pw.CloseWithError(errors.New("inproc: handler panicked"))
				return
			}
			w.writeHeaderOnce(http.StatusOK)
			pw.Close()
		}()
		t.Handler.ServeHTTP(w, r)
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		cancel()
		return nil, req.Context().Err()
	}
	resp := &http.Response{
		Status: http.StatusText(w.status), StatusCode: w.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.sent, Body: &body{PipeReader: pr, cancel: cancel}, ContentLength: -1, Request: req,
	}
	return resp, nil
}

// body cancels the handler's request when the client closes it.
type body struct {
	*io.PipeReader
	cancel func()
}

func (b *body) Close() error {
	b.cancel()
	return b.PipeReader.Close()
}

type writer struct {
	header http.Header
	sent   http.Header
	body   *io.PipeWriter
	once   sync.Once
	status int
	ready  chan struct{}
}

func (w *writer) Header() http.Header { return w.header }

func (w *writer) writeHeaderOnce(code int) {
	w.once.Do(func() {
		w.status = code
		w.sent = w.header.Clone()
		close(w.ready)
	})
}

func (w *writer) WriteHeader(code int) { w.writeHeaderOnce(code) }

func (w *writer) Write(p []byte) (int, error) {
	w.writeHeaderOnce(http.StatusOK)
	return w.body.Write(p)
}

// Flush is a no-op: every Write reaches the reader as it happens.
func (w *writer) Flush() { w.writeHeaderOnce(http.StatusOK) }
