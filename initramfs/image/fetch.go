package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// fetcher performs the HTTP requests of one installation: the first GET
// learns the file's size and validators; later requests resume or fetch a
// byte range, conditional on the validator so a changed file is noticed.
type fetcher struct {
	o          Options
	known      bool  // the first response arrived
	size       int64 // -1 when the server sent no length
	etag       string
	lastMod    string
	noRange    atomic.Bool  // the server answered a Range request with 200
	downloaded atomic.Int64 // bytes received, all requests
	requests   atomic.Int64
}

// errChanged means the file on the server changed during the download.
var errChanged = errors.New("image changed on the server during the download")

// permanentError is a failure that retrying cannot fix (4xx, changed file).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// statusError is a non-success HTTP status.
type statusError struct{ code int }

func (e statusError) Error() string {
	return fmt.Sprintf("%d %s", e.code, http.StatusText(e.code))
}

// get sends one GET for [off, end) (end < 0: to the end of the file) and
// returns the body positioned at off. A server that ignores Range returns the
// whole file: the body is then positioned at 0 and restarted is true.
func (f *fetcher) get(ctx context.Context, off, end int64) (body io.ReadCloser, restarted bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.o.URL, nil)
	if err != nil {
		cancel(nil)
		return nil, false, permanentError{err}
	}
	for k, v := range f.o.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept-Encoding", "identity") // hash the file's own bytes
	ranged := off > 0 || end >= 0
	if ranged {
		if end >= 0 {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, end-1))
		} else {
			req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
		}
		if v := f.validator(); v != "" {
			req.Header.Set("If-Range", v)
		}
	}
	f.requests.Add(1)
	resp, err := f.o.Client.Do(req)
	if err != nil {
		cancel(nil)
		var ue *url.Error
		if errors.As(err, &ue) { // drop the URL: it may carry a token
			err = ue.Err
		}
		return nil, false, err
	}
	err = f.accept(resp, off, ranged)
	if err == nil || errors.Is(err, errRestart) {
		return f.wrap(ctx, cancel, resp), err != nil, nil
	}
	resp.Body.Close()
	cancel(nil)
	return nil, false, err
}

var errRestart = errors.New("server sent the whole file")

// accept checks a response's status and headers; errRestart means a 200 to a
// ranged request from the same file (the caller must skip from 0).
func (f *fetcher) accept(resp *http.Response, off int64, ranged bool) error {
	switch {
	case resp.StatusCode == http.StatusOK:
		if !f.known && !ranged { // first response: learn the file
			f.known = true
			f.size = resp.ContentLength
			f.etag = resp.Header.Get("ETag")
			f.lastMod = resp.Header.Get("Last-Modified")
			return nil
		}
		if !f.sameFile(resp) {
			return permanentError{errChanged}
		}
		if ranged {
			f.noRange.Store(true)
			return errRestart
		}
		return nil
	case resp.StatusCode == http.StatusPartialContent && ranged:
		start, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != off || (f.size >= 0 && total >= 0 && total != f.size) {
			return fmt.Errorf("bad Content-Range %q for offset %d", resp.Header.Get("Content-Range"), off)
		}
		if !f.sameFile(resp) {
			return permanentError{errChanged}
		}
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 &&
		resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return permanentError{statusError{resp.StatusCode}}
	}
	return statusError{resp.StatusCode}
}

// sameFile compares a response's validators with the first response's.
func (f *fetcher) sameFile(resp *http.Response) bool {
	if f.etag != "" {
		if e := resp.Header.Get("ETag"); e != "" && e != f.etag {
			return false
		}
	}
	if f.lastMod != "" {
		if m := resp.Header.Get("Last-Modified"); m != "" && m != f.lastMod {
			return false
		}
	}
	return true
}

func (f *fetcher) validator() string {
	if f.etag != "" && !strings.HasPrefix(f.etag, "W/") {
		return f.etag
	}
	return f.lastMod
}

func parseContentRange(s string) (start, total int64, err error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, errors.New("not a byte range")
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, errors.New("no total")
	}
	first, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, errors.New("no range")
	}
	if start, err = strconv.ParseInt(first, 10, 64); err != nil {
		return 0, 0, err
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil {
			return 0, 0, err
		}
	}
	return start, total, nil
}

// errStalled and errTooSlow end a request whose body stopped or trickles.
var (
	errStalled = errors.New("download stalled")
	errTooSlow = errors.New("download too slow")
)

// stallBody cancels its request when no byte arrives for the stall timeout,
// or when fewer than MinRate bytes a second arrived over the last stall
// timeout (a server sending a byte a second never stalls, yet would take
// years), and counts the bytes it delivers. The request's context carries
// the reason, which Read returns instead of a bare "context canceled".
type stallBody struct {
	f      *fetcher
	ctx    context.Context
	body   io.ReadCloser
	timer  *time.Timer // silence
	rate   *time.Timer // throughput, checked every stall timeout
	cancel context.CancelCauseFunc
	stall  time.Duration
	window atomic.Int64 // bytes since the last throughput check
	// healthy: a throughput check passed (or, without MinRate, a byte
	// arrived): a later stall is a new one, not the same slow server.
	healthy atomic.Bool
	busy    time.Duration // PausedReads: time spent inside reads since the last check
}

func (f *fetcher) wrap(ctx context.Context, cancel context.CancelCauseFunc, resp *http.Response) io.ReadCloser {
	s := &stallBody{f: f, ctx: ctx, body: resp.Body, cancel: cancel, stall: f.o.StallTimeout}
	s.timer = time.AfterFunc(s.stall, func() {
		cancel(fmt.Errorf("%w: no data for %v", errStalled, s.stall))
	})
	if f.o.PausedReads {
		s.timer.Stop() // runs only inside Read (pausedRead)
		return s
	}
	if f.o.MinRate > 0 {
		s.rate = time.AfterFunc(s.stall, s.checkRate)
	}
	return s
}

// pausedRead is Read for a caller that may pause between reads: silence and
// throughput count only while a read waits for data.
func (s *stallBody) pausedRead(p []byte) (int, error) {
	s.timer.Reset(s.stall)
	start := time.Now()
	n, err := s.body.Read(p)
	s.timer.Stop()
	s.f.downloaded.Add(int64(n))
	if n > 0 && s.f.o.MinRate <= 0 {
		s.healthy.Store(true)
	}
	if s.f.o.MinRate > 0 && err == nil {
		s.busy += time.Since(start)
		s.window.Add(int64(n))
		if s.busy >= s.stall {
			got, busy := s.window.Swap(0), s.busy
			s.busy = 0
			if want := int64(float64(s.f.o.MinRate) * busy.Seconds()); got < want {
				err = fmt.Errorf("%w: %d bytes in %v, below the minimum of %d bytes/s", errTooSlow, got, busy.Round(time.Millisecond), s.f.o.MinRate)
				s.cancel(err)
				return n, err
			}
			s.healthy.Store(true)
		}
	}
	if err != nil && err != io.EOF {
		if c := context.Cause(s.ctx); c != nil && !errors.Is(c, context.Canceled) {
			err = c
		}
	}
	return n, err
}

// checkRate ends the request if the last window was below MinRate.
func (s *stallBody) checkRate() {
	got := s.window.Swap(0)
	if want := int64(float64(s.f.o.MinRate) * s.stall.Seconds()); got < want {
		s.cancel(fmt.Errorf("%w: %d bytes in %v, below the minimum of %d bytes/s", errTooSlow, got, s.stall, s.f.o.MinRate))
		return
	}
	s.healthy.Store(true)
	s.rate.Reset(s.stall)
}

func (s *stallBody) Read(p []byte) (int, error) {
	if s.f.o.PausedReads {
		return s.pausedRead(p)
	}
	n, err := s.body.Read(p)
	s.timer.Reset(s.stall)
	s.window.Add(int64(n))
	s.f.downloaded.Add(int64(n))
	if n > 0 && s.rate == nil {
		s.healthy.Store(true)
	}
	if err != nil && err != io.EOF {
		if c := context.Cause(s.ctx); c != nil && !errors.Is(c, context.Canceled) {
			err = c
		}
	}
	return n, err
}

func (s *stallBody) Close() error {
	s.timer.Stop()
	if s.rate != nil {
		s.rate.Stop()
	}
	s.cancel(nil)
	return s.body.Close()
}

// retry runs op until it succeeds, fails permanently, the context ends or
// the retries are used up, waiting with exponential backoff in between.
func (f *fetcher) retry(ctx context.Context, what string, op func() error) error {
	wait := f.o.RetryWait
	for attempt := 0; ; attempt++ {
		err := op()
		if err == nil {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) || attempt >= f.o.Retries || ctx.Err() != nil {
			return err
		}
		f.o.Logger.Info("download failed, retrying", "op", what, "attempt", attempt+1, "err", err, "wait", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}
