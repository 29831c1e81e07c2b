// Package verify compares the selected tables of the two databases of a pair:
// row count and an ordered hash of every row, per table. It sits outside the data
// path: `pgduet verify`, `pgduet demo` and the convergence tests use it to show
// that both nodes hold the same data.
//
// Rows are ordered by the primary key (or by the whole row's text when a table
// has none) and hashed as their text output, so equal data on two nodes gives
// equal hashes whatever the physical order. Rows stream in key order and are
// hashed as they arrive, so memory stays flat for large tables.
package verify
