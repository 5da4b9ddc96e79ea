"""Hostile input, built in code so every case is readable and reviewable: files that lie about
what they are, bodies too big or too deep, names that try to escape, shapes that cannot be."""
