package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"strconv"
	"strings"

	"github.com/byoi/byoi/boot"
)

// apiError is the error body of every API: OVH's shape. Authentication
// errors also carry OVH's errorCode and httpCode (python-ovh picks its
// exception from errorCode).
type apiError struct {
	Class     string `json:"class"`
	Message   string `json:"message"`
	ErrorCode string `json:"errorCode,omitempty"`
	HTTPCode  string `json:"httpCode,omitempty"`
}

// errorClasses are OVH's error classes by HTTP status.
var errorClasses = map[int]string{
	nethttp.StatusBadRequest:            "Client::BadRequest",
	nethttp.StatusUnauthorized:          "Client::Unauthorized",
	nethttp.StatusForbidden:             "Client::Forbidden",
	nethttp.StatusNotFound:              "Client::NotFound",
	nethttp.StatusMethodNotAllowed:      "Client::MethodNotAllowed",
	nethttp.StatusConflict:              "Client::Conflict",
	nethttp.StatusRequestEntityTooLarge: "Client::BadRequest::RequestEntityTooLarge",
	nethttp.StatusTooManyRequests:       "Client::TooManyRequests",
}

func writeError(w nethttp.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Class: errorClass(status), Message: msg})
}

func errorClass(status int) string {
	class, ok := errorClasses[status]
	if !ok {
		class = "Server::InternalServerError"
		if status < 500 {
			class = "Client::Error"
		}
	}
	return class
}

// writeAuthError answers an authentication failure: its status, class,
// errorCode and httpCode when the error knows them (the auth package's do),
// and Retry-After on 429.
func writeAuthError(w nethttp.ResponseWriter, err error) int {
	status := nethttp.StatusUnauthorized
	var hs interface{ HTTPStatus() int }
	if errors.As(err, &hs) && hs.HTTPStatus() >= 400 && hs.HTTPStatus() < 600 {
		status = hs.HTTPStatus()
	}
	body := apiError{Class: errorClass(status), Message: err.Error()}
	var classed interface{ ErrorClass() string }
	if errors.As(err, &classed) && classed.ErrorClass() != "" {
		body.Class = classed.ErrorClass()
	}
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) && coded.ErrorCode() != "" {
		body.ErrorCode = coded.ErrorCode()
		body.HTTPCode = fmt.Sprintf("%d %s", status, nethttp.StatusText(status))
	}
	var retry interface{ RetryAfterSeconds() int }
	if errors.As(err, &retry) && retry.RetryAfterSeconds() > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retry.RetryAfterSeconds()))
	}
	writeJSON(w, status, body)
	return status
}

func writeJSON(w nethttp.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own types are encoded here; this is a bug, not bad input.
		status, body = nethttp.StatusInternalServerError, []byte(`{"class":"Server::InternalServerError","message":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// httpError is an error that knows its status; its message is shown.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, a ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, a...)}
}

// fail answers err: httpError and validation errors with their message,
// store sentinels as 404/409, anything else as a logged 500 whose details
// stay in the log.
func (s *Server) fail(w nethttp.ResponseWriter, r *nethttp.Request, err error) {
	var he *httpError
	var ve *boot.ValidationError
	if lhe, ok := lifecycleError(err); ok {
		he = lhe
	}
	switch {
	case he != nil || errors.As(err, &he):
		writeError(w, he.status, he.msg)
	case errors.As(err, &ve):
		writeError(w, nethttp.StatusBadRequest, ve.Msg)
	case errors.Is(err, boot.ErrNotFound):
		writeError(w, nethttp.StatusNotFound, err.Error())
	case errors.Is(err, boot.ErrConflict):
		writeError(w, nethttp.StatusConflict, err.Error())
	case errors.Is(err, context.Canceled):
		writeError(w, nethttp.StatusServiceUnavailable, "request cancelled")
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "query_id", queryID(r.Context()), "err", err)
		writeError(w, nethttp.StatusInternalServerError, "Internal server error")
	}
}

// decodeStrict decodes a JSON body into v, refusing unknown fields and
// trailing data. It is used by the native and agent APIs.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(nethttp.StatusBadRequest, "Invalid JSON body: %s", jsonProblem(err))
	}
	if dec.More() {
		return errorf(nethttp.StatusBadRequest, "Invalid JSON body: trailing data after the JSON value")
	}
	return nil
}

// decodeLenient decodes a JSON body into v, ignoring unknown fields as the
// OVH API clients expect (they send fields byoi has no use for).
func decodeLenient(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errorf(nethttp.StatusBadRequest, "Invalid JSON body: empty body")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errorf(nethttp.StatusBadRequest, "Invalid JSON body: %s", jsonProblem(err))
	}
	return nil
}

// jsonProblem phrases a decoding error without echoing large input.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		return fmt.Sprintf("field %s must be a %s, not a JSON %s", field, te.Type.Kind(), te.Value)
	case errors.As(err, &se) && strings.Contains(se.Error(), "unexpected end"):
		return "truncated JSON"
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return strings.TrimPrefix(msg, "json: ")
}
