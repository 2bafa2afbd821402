"""Models: StudentNets, batch norm, the MentorNet network and its I/O."""
