package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error is an authentication or credential-management failure as the API
// answers it: an HTTP status, an OVH error class and errorCode, and a
// message. It satisfies the HTTPStatus() convention of server/http.
type Error struct {
	Status  int
	Class   string // e.g. "Client::Forbidden"
	Code    string // OVH errorCode, e.g. "INVALID_KEY"
	Message string
	// RetryAfter is set on 429 answers: how long until the caller may try
	// again.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// HTTPStatus is the status the API answers with.
func (e *Error) HTTPStatus() int { return e.Status }

// ErrorCode is OVH's errorCode of the answer ("" for none).
func (e *Error) ErrorCode() string { return e.Code }

// ErrorClass is OVH's error class of the answer.
func (e *Error) ErrorClass() string { return e.Class }

// RetryAfterSeconds is how long a 429 answer asks the caller to wait (0
// for other answers).
func (e *Error) RetryAfterSeconds() int { return int(e.RetryAfter / time.Second) }

// MarshalJSON renders the OVH error shape: class, errorCode, httpCode and
// message (go-ovh reads class and message; python-ovh reads errorCode).
func (e *Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Class    string `json:"class"`
		Code     string `json:"errorCode,omitempty"`
		HTTPCode string `json:"httpCode"`
		Message  string `json:"message"`
	}{e.Class, e.Code, fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status)), e.Message})
}

// The answers of the OVH signature scheme. Where OVH's own wording is known
// (from the public OVH client libraries and their tests) it is kept word for
// word; the others are byoi's and documented in the package comment.
var (
	// ErrNoCredentials: neither OVH headers nor a bearer token.
	ErrNoCredentials = &Error{Status: http.StatusUnauthorized, Class: "Client::Unauthorized", Code: "NOT_AUTHENTICATED", Message: "You must login first"}
	// ErrInvalidKey: unknown (or revoked) application key. OVH's wording.
	ErrInvalidKey = &Error{Status: http.StatusForbidden, Class: "Client::Forbidden", Code: "INVALID_KEY", Message: "This application key is invalid"}
	// ErrNotCredential: the consumer key does not belong to the application
	// key. OVH's wording.
	ErrNotCredential = &Error{Status: http.StatusForbidden, Class: "Client::Forbidden", Code: "NOT_CREDENTIAL", Message: "This credential does not exist"}
	// ErrInvalidCredential: the consumer key has expired. OVH's wording.
	ErrInvalidCredential = &Error{Status: http.StatusForbidden, Class: "Client::Forbidden", Code: "INVALID_CREDENTIAL", Message: "This credential is not valid"}
	// ErrNotGrantedCall: the credential's rules do not allow the call. OVH's
	// wording.
	ErrNotGrantedCall = &Error{Status: http.StatusForbidden, Class: "Client::Forbidden", Code: "NOT_GRANTED_CALL", Message: "This call has not been granted"}
	// ErrInvalidSignature: the signature does not match. OVH's wording.
	ErrInvalidSignature = &Error{Status: http.StatusBadRequest, Class: "Client::BadRequest", Code: "INVALID_SIGNATURE", Message: "Invalid signature"}
	// ErrQueryTimeOut: X-Ovh-Timestamp is outside the clock-skew window.
	ErrQueryTimeOut = &Error{Status: http.StatusBadRequest, Class: "Client::BadRequest", Code: "QUERY_TIME_OUT", Message: "Query out of time"}
	// ErrReplayed: the same signed request was already accepted.
	ErrReplayed = &Error{Status: http.StatusBadRequest, Class: "Client::BadRequest", Code: "QUERY_REPLAYED", Message: "This signed query was already received from another address: sign each request with a fresh timestamp"}
	// ErrInvalidToken: a bearer token that is malformed, unknown or revoked.
	ErrInvalidToken = &Error{Status: http.StatusUnauthorized, Class: "Client::Unauthorized", Code: "INVALID_TOKEN", Message: "Invalid bearer token"}
	// ErrExpiredToken: a bearer token past its expiry.
	ErrExpiredToken = &Error{Status: http.StatusUnauthorized, Class: "Client::Unauthorized", Code: "INVALID_TOKEN", Message: "This bearer token has expired"}
)

func tooMany(retry time.Duration) *Error {
	secs := int((retry + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return &Error{
		Status: http.StatusTooManyRequests, Class: "Client::TooManyRequests", Code: "TOO_MANY_REQUESTS",
		Message:    fmt.Sprintf("Too many failed authentication attempts, retry in %d seconds", secs),
		RetryAfter: time.Duration(secs) * time.Second,
	}
}

func internalError(msg string) *Error {
	return &Error{Status: http.StatusInternalServerError, Class: "Server::InternalServerError", Message: msg}
}

func badRequest(format string, a ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Class: "Client::BadRequest", Message: fmt.Sprintf(format, a...)}
}

func notFound(format string, a ...any) *Error {
	return &Error{Status: http.StatusNotFound, Class: "Client::NotFound", Message: fmt.Sprintf(format, a...)}
}

// WriteError answers with err as OVH-shaped JSON. An *Error keeps its
// status, class and code (and sets Retry-After on 429); anything else is a
// 500 whose text is not shown, so no internal detail leaks.
func WriteError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = internalError("Internal server error")
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter/time.Second)))
	}
	writeJSON(w, e.Status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"class":"Server::InternalServerError","message":"Internal server error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
