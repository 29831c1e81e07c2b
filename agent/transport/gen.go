package transport

// The generated code in proto/ is committed. Regenerate it after editing
// proto/pgduet.proto (needs protoc, protoc-gen-go and protoc-gen-go-grpc on PATH):
//
//	go generate ./agent/transport

//go:generate protoc --proto_path=proto --go_out=proto --go_opt=paths=source_relative --go-grpc_out=proto --go-grpc_opt=paths=source_relative pgduet.proto
