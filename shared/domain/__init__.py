"""Rules more than one service applies: annotations against their ontology, geometry,
the project read model."""
