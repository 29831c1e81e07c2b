package policies

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// sslModes are libpq's sslmode values.
var sslModes = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// secretKeywords never leave ConnString: not in Redacted, not in the digest,
// not in error messages.
var secretKeywords = map[string]bool{"password": true, "sslpassword": true}

// ConnString returns a connection string for the node's database that pgx
// (pgconn.ParseConfig) and libpq accept: the keywords of URL (libpq URL or
// key=value DSN), with Password, SSLMode, SSLRootCert, SSLCert, SSLKey and
// SSLPassword layered on top; a setting given as an attribute overrides the
// same keyword in URL. The result is always in key='value' form.
//
// The result CONTAINS THE PASSWORD: never log it, never put it in an error
// or a status message. Use Redacted for messages.
func (d Database) ConnString() (string, error) {
	kv, err := d.Keywords()
	if err != nil {
		return "", err
	}
	return connKV(kv).String(), nil
}

// Redacted describes the database for messages and logs: host, port, dbname
// and user only, e.g. "host=db-east port=5432 dbname=shop user=pgduet".
func (d Database) Redacted() string {
	kv, err := parseConnString(d.URL)
	if err != nil {
		return "(invalid database url)"
	}
	var parts []string
	for _, k := range []string{"host", "port", "dbname", "user"} {
		if v, ok := kv.get(k); ok && v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	if len(parts) == 0 {
		return "(libpq defaults)"
	}
	return strings.Join(parts, " ")
}

// connKV is an ordered list of libpq connection keywords; a later setting of
// a keyword replaces the earlier one in place.
type connKV [][2]string

func (kv *connKV) set(k, v string) {
	for i := range *kv {
		if (*kv)[i][0] == k {
			(*kv)[i][1] = v
			return
		}
	}
	*kv = append(*kv, [2]string{k, v})
}

func (kv connKV) get(k string) (string, bool) {
	for _, p := range kv {
		if p[0] == k {
			return p[1], true
		}
	}
	return "", false
}

// String renders key='value' pairs, quoting every value.
func (kv connKV) String() string {
	var b strings.Builder
	for i, p := range kv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p[0])
		b.WriteString("='")
		for i := 0; i < len(p[1]); i++ {
			if c := p[1][i]; c == '\'' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(p[1][i])
		}
		b.WriteByte('\'')
	}
	return b.String()
}

// parseConnString parses a libpq connection URL (postgres:// or
// postgresql://) or key=value string. Errors never quote values: the string
// may hold a password.
func parseConnString(s string) (connKV, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("the connection string is empty")
	}
	for _, scheme := range []string{"postgresql://", "postgres://"} {
		if rest, ok := strings.CutPrefix(s, scheme); ok {
			return parseConnURL(rest)
		}
	}
	if strings.Contains(s, "://") {
		return nil, errors.New(`a connection URL must start with "postgres://" or "postgresql://"`)
	}
	return parseConnDSN(s)
}

func parseConnURL(rest string) (connKV, error) {
	var kv connKV
	rest, query, _ := strings.Cut(rest, "?")
	if strings.Contains(query, "#") || strings.Contains(rest, "#") {
		return nil, errors.New("a connection URL may not have a #fragment")
	}
	authority, path, _ := strings.Cut(rest, "/")
	hostspec := authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo := authority[:i]
		hostspec = authority[i+1:]
		user, password, hasPassword := strings.Cut(userinfo, ":")
		u, err := url.PathUnescape(user)
		if err != nil {
			return nil, errors.New("the user name in the URL has a bad %-escape")
		}
		if u != "" {
			kv.set("user", u)
		}
		if hasPassword {
			p, err := url.PathUnescape(password)
			if err != nil {
				return nil, errors.New("the password in the URL has a bad %-escape")
			}
			kv.set("password", p)
		}
	}
	if hostspec != "" {
		var hosts, ports []string
		anyPort := false
		for _, h := range strings.Split(hostspec, ",") {
			var host, port string
			if strings.HasPrefix(h, "[") {
				end := strings.Index(h, "]")
				if end < 0 {
					return nil, errors.New("an IPv6 host in the URL lacks its closing ]")
				}
				host = h[1:end]
				if r := h[end+1:]; r != "" {
					p, ok := strings.CutPrefix(r, ":")
					if !ok {
						return nil, errors.New("unexpected characters after an IPv6 host in the URL")
					}
					port = p
				}
			} else if i := strings.LastIndex(h, ":"); i >= 0 {
				host, port = h[:i], h[i+1:]
			} else {
				host = h
			}
			dh, err := url.PathUnescape(host)
			if err != nil {
				return nil, errors.New("a host in the URL has a bad %-escape")
			}
			if port != "" {
				if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
					return nil, fmt.Errorf("the URL has an invalid port %q", port)
				}
				anyPort = true
			}
			hosts = append(hosts, dh)
			ports = append(ports, port)
		}
		kv.set("host", strings.Join(hosts, ","))
		if anyPort {
			kv.set("port", strings.Join(ports, ","))
		}
	}
	if path != "" {
		db, err := url.PathUnescape(path)
		if err != nil {
			return nil, errors.New("the database name in the URL has a bad %-escape")
		}
		kv.set("dbname", db)
	}
	if query != "" {
		for _, p := range strings.Split(query, "&") {
			if p == "" {
				continue
			}
			k, v, ok := strings.Cut(p, "=")
			dk, err := url.PathUnescape(k)
			if err != nil {
				return nil, errors.New("a parameter name in the URL has a bad %-escape")
			}
			if !ok {
				return nil, fmt.Errorf("the URL parameter %q has no value", dk)
			}
			dv, err := url.PathUnescape(v)
			if err != nil {
				return nil, fmt.Errorf("the URL parameter %q has a bad %%-escape", dk)
			}
			if !validKeyword(dk) {
				return nil, fmt.Errorf("the URL parameter %q is not a connection keyword", dk)
			}
			kv.set(dk, dv)
		}
	}
	return kv, nil
}

// validKeyword: libpq keywords and server settings (including custom ones
// such as "app.tenant") are made of letters, digits, "_", "." and "-".
func validKeyword(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// parseConnDSN parses libpq's key=value form: whitespace-separated pairs,
// spaces allowed around "=", values single-quoted (with \' and \\) or bare.
func parseConnDSN(s string) (connKV, error) {
	var kv connKV
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' }
	i := 0
	for {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		key := s[start:i]
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) || s[i] != '=' {
			return nil, fmt.Errorf("the word at character %d is not a keyword=value pair (expected a libpq URL or key=value form: host=db port=5432 dbname=shop)", start+1)
		}
		if !validKeyword(key) {
			return nil, fmt.Errorf("the word at character %d is not a connection keyword", start+1)
		}
		i++
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		var v strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					v.WriteByte(s[i+1])
					i += 2
					continue
				}
				if c == '\'' {
					closed = true
					i++
					break
				}
				v.WriteByte(c)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("the quoted value of %q is not closed", key)
			}
		} else {
			for i < len(s) && !isSpace(s[i]) {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				v.WriteByte(s[i])
				i++
			}
		}
		kv.set(key, v.String())
	}
	return kv, nil
}
