package policies

// Keywords returns the libpq keywords and values of ConnString, in order, for
// programs that read them from a file (a pg_service.conf entry) rather than
// from a command line, where a password would be visible to every user of
// the machine. The result CONTAINS THE PASSWORD: never log it.
func (d Database) Keywords() ([][2]string, error) {
	if d.secretErr != nil {
		return nil, d.secretErr
	}
	kv, err := parseConnString(d.URL)
	if err != nil {
		return nil, err
	}
	for _, s := range [][2]string{
		{"password", d.Password},
		{"sslmode", d.SSLMode},
		{"sslrootcert", d.SSLRootCert},
		{"sslcert", d.SSLCert},
		{"sslkey", d.SSLKey},
		{"sslpassword", d.SSLPassword},
	} {
		if s[1] != "" {
			kv.set(s[0], s[1])
		}
	}
	return kv, nil
}
