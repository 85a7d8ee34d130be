// handle_connection: serves one HTTP exchange on a connection, start to finish.
#pragma once

#include "net.hpp"

// Reads the request up to its blank line, writes the response, and closes the connection
// (it owns it). Blocks until all of that is done. Throws std::system_error if the client
// resets the connection or the socket fails.
void handle_connection(TcpStream connection, bool quiet);
