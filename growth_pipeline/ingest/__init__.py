"""Getting each day's raw meta snapshot: the FlowFuse API client, the sources, and the document format."""
