"""Live streams to browsers: the console's event stream (the agent ticker socket lives in broadcast/)."""
