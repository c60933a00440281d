module pion-turn

go 1.19
