package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
)

// exchange sends one request and prints the answer, decoded as a T: the
// server's JSON as it came with --output json, else text(w, answer).
func exchange[T any](c *cli.Context, api *apiClient, method, path string, in any, text func(w io.Writer, v T) error) error {
	var v T
	raw, err := api.do(c.Context, method, path, in, &v)
	if err != nil {
		return err
	}
	if api.json {
		return printJSON(c.App.Writer, raw, nil)
	}
	return text(c.App.Writer, v)
}

// remove sends DELETE path for the object id and reports it: {verb: id}
// with --output json, else the sentence done.
func remove(c *cli.Context, api *apiClient, path, verb, id, done string) error {
	if _, err := api.do(c.Context, "DELETE", path, nil, nil); err != nil {
		return err
	}
	if api.json {
		return printJSON(c.App.Writer, nil, map[string]string{verb: id})
	}
	_, err := fmt.Fprintln(c.App.Writer, done)
	return err
}

// table is the text form of a list answer: the header, then one row per
// item, in columns two spaces apart.
func table[T any](header []string, row func(T) []string) func(io.Writer, []T) error {
	return func(w io.Writer, items []T) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(header, "\t"))
		for _, it := range items {
			fmt.Fprintln(tw, strings.Join(row(it), "\t"))
		}
		return tw.Flush()
	}
}

// printJSON writes a server answer indented, or v encoded when raw is nil.
func printJSON(w io.Writer, raw []byte, v any) error {
	if raw == nil {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		return fmt.Errorf("server answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// formatTime shows a server time in the local zone, "-" when unset.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// dash shows an unset string as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
